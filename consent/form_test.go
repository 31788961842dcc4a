package consent

import (
	"errors"
	"testing"
	"time"
)

func TestForm(t *testing.T) {
	key := testSigner(t).formKey()
	f := formFields{TokenID: "0123456789abcdef0123456789abcdef", Purpose: "feedback", Decision: "granted", Lang: "de",
		NoticeHash: "ab", Version: 7}
	v := issueForm(key, f, now)
	if err := checkForm(key, v, f, now.Add(59*time.Minute)); err != nil {
		t.Fatalf("fresh form: %v", err)
	}
	for name, c := range map[string]struct {
		value string
		f     formFields
		at    time.Time
		want  error
	}{
		"missing":            {"", f, now, errFormMissing},
		"not base64":         {"!!", f, now, errFormInvalid},
		"short":              {v[:20], f, now, errFormInvalid},
		"expired":            {v, f, now.Add(FormValidity + time.Second), errFormExpired},
		"from the future":    {issueForm(key, f, now.Add(2*time.Minute)), f, now, errFormExpired},
		"version changed":    {v, with(f, func(f *formFields) { f.Version++ }), now, errFormInvalid},
		"other decision":     {v, with(f, func(f *formFields) { f.Decision = "withdrawn" }), now, errFormInvalid},
		"other purpose":      {v, with(f, func(f *formFields) { f.Purpose = "feedbac" }), now, errFormInvalid},
		"other token":        {v, with(f, func(f *formFields) { f.TokenID = "f" + f.TokenID[1:] }), now, errFormInvalid},
		"other language":     {v, with(f, func(f *formFields) { f.Lang = "en" }), now, errFormInvalid},
		"notice changed":     {v, with(f, func(f *formFields) { f.NoticeHash = "ac" }), now, errFormInvalid},
		"fields shifted":     {v, with(f, func(f *formFields) { f.Purpose, f.Decision = "feedbackg", "ranted" }), now, errFormInvalid},
		"other consent key":  {issueForm(make([]byte, 32), f, now), f, now, errFormInvalid},
		"render time edited": {b64.EncodeToString(append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, mustDecode(t, v)[8:]...)), f, now, errFormInvalid},
	} {
		if err := checkForm(key, c.value, c.f, c.at); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if string(key) == string(testSigner(t).key) {
		t.Error("the form key is the consent key itself")
	}
}

func with(f formFields, mod func(*formFields)) formFields {
	mod(&f)
	return f
}

func mustDecode(t *testing.T, s string) []byte {
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
