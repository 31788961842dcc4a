package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCredentialPasswordFile: a password_file of ${CREDENTIALS_DIRECTORY}/NAME
// is read from the directory systemd names in $CREDENTIALS_DIRECTORY
// (LoadCredential=); without it the password is empty, the key is listed
// in Uncredentialed and a warning says why; a name with a slash is refused.
func TestCredentialPasswordFile(t *testing.T) {
	dir, creds := t.TempDir(), t.TempDir()
	config := edit(t, minimal, `"imap.pass"`, `"${CREDENTIALS_DIRECTORY}/imap.pass"`)
	writeFiles(t, dir, map[string]string{"config.toml": config})
	writeFiles(t, creds, map[string]string{"imap.pass": "from-the-unit\n"})
	if err := os.Chmod(filepath.Join(creds, "imap.pass"), 0o400); err != nil { // as systemd makes it
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.toml")

	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load under the unit:\n%v", err)
	}
	if b := c.Mailboxes[0]; b.Password != "from-the-unit" || b.PasswordFile != filepath.Join(creds, "imap.pass") || len(c.Uncredentialed) > 0 {
		t.Errorf("under the unit: password %q from %q, uncredentialed %v", b.Password, b.PasswordFile, c.Uncredentialed)
	}

	t.Setenv("CREDENTIALS_DIRECTORY", "")
	c, err = Load(path)
	if err != nil {
		t.Fatalf("Load outside the unit:\n%v", err)
	}
	if b := c.Mailboxes[0]; b.Password != "" || !slices.Equal(c.Uncredentialed, []string{"mailbox[1].password_file"}) {
		t.Errorf("outside the unit: password %q, uncredentialed %v", b.Password, c.Uncredentialed)
	}
	if w := c.Warnings.Error(); !strings.Contains(w, "warning: mailbox[1].password_file: $CREDENTIALS_DIRECTORY is not set") {
		t.Errorf("warnings: %s", w)
	}

	for _, bad := range []string{"${CREDENTIALS_DIRECTORY}/../imap.pass", "${CREDENTIALS_DIRECTORY}/", "${CREDENTIALS_DIRECTORY}imap.pass", "${CREDENTIALS_DIRECTORY}/a/b"} {
		writeFiles(t, dir, map[string]string{"config.toml": edit(t, minimal, `"imap.pass"`, `"`+bad+`"`)})
		t.Setenv("CREDENTIALS_DIRECTORY", creds)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "mailbox[1].password_file") {
			t.Errorf("password_file = %q: %v", bad, err)
		}
	}
}
