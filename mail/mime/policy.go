package mime

import (
	"fmt"
	"math"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// SniffBytes is how much of a part's decoded content the type is sniffed
// from (mimetype's default read limit).
const SniffBytes = 3072

// AttachmentPolicy limits the attachments Parse keeps. The type of a part
// is decided by its content (Sniff), never by its file name or its declared
// Content-Type, which are only recorded. A part the policy refuses is not
// stored: it becomes a Dropped of the parse result.
type AttachmentPolicy struct {
	MaxSize  int64 // decoded bytes per attachment; 0: no limit
	MaxTotal int64 // decoded bytes of all kept attachments of one mail; 0: no limit
	// Allow and Refuse are media types ("application/pdf") or a top-level
	// type with a wildcard ("image/*"). Refuse wins; an empty Allow allows
	// everything not refused. Allow matches the sniffed type itself;
	// Refuse also matches the types it is a kind of (refusing
	// "application/x-elf" refuses "application/x-executable" and
	// "application/x-sharedlib", refusing "application/zip" refuses the
	// zip-based office formats), except the roots every type descends from
	// (application/octet-stream, text/plain). Names are compared by
	// mimetype's canonical spelling, so an alias such as "application/x-sh"
	// means "text/x-shellscript".
	Allow  []string
	Refuse []string
}

// Dropped is an attachment the policy refused: not stored, noted on the ticket.
type Dropped struct {
	Filename    string // as the mail named it; "" when it had none
	ContentType string // the sniffed media type
	Declared    string // the part's declared Content-Type (media type only)
	Size        int64  // decoded size in bytes (the whole part, though only its start was read into memory)
	Reason      string // "too large (31.5 MB > max_size 25 MB)", "mail total over max_total", "type ... refused", "type not allowed", ...
}

// Sniff returns the media type of content by its first bytes (at most
// SniffBytes are looked at), lower case and without parameters.
func Sniff(content []byte) string {
	return baseType(mimetype.Detect(content[:min(len(content), SniffBytes)]).String())
}

func baseType(s string) string {
	s, _, _ = strings.Cut(s, ";")
	return strings.ToLower(strings.TrimSpace(s))
}

// CanonicalType is the name mimetype uses for the media type t (an alias
// such as "application/x-sh" becomes "text/x-shellscript"); a type mimetype
// does not know, and a wildcard, are returned in lower case.
func CanonicalType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if strings.HasSuffix(t, "/*") {
		return t
	}
	if m := mimetype.Lookup(t); m != nil {
		return baseType(m.String())
	}
	return t
}

// KnownType reports whether mimetype can return the media type t (or one
// of its aliases) from content; a wildcard is known.
func KnownType(t string) bool {
	t = strings.ToLower(strings.TrimSpace(t))
	return strings.HasSuffix(t, "/*") || mimetype.Lookup(t) != nil
}

// typeReason is why the policy refuses content sniffed as m, "" when it
// does not. sniffed is m's type without parameters.
func (pol *AttachmentPolicy) typeReason(m *mimetype.MIME, sniffed string) string {
	for a := m; a != nil; a = a.Parent() {
		t := baseType(a.String())
		if a != m && (t == "application/octet-stream" || t == "text/plain") {
			break
		}
		if matchAny(pol.Refuse, t) {
			return "type " + sniffed + " refused"
		}
	}
	if len(pol.Allow) > 0 && !matchAny(pol.Allow, sniffed) {
		return "type not allowed"
	}
	return ""
}

func matchAny(patterns []string, t string) bool {
	for _, p := range patterns {
		p = CanonicalType(p)
		if major, ok := strings.CutSuffix(p, "/*"); ok {
			if strings.HasPrefix(t, major+"/") {
				return true
			}
			continue
		}
		if p == t {
			return true
		}
	}
	return false
}

func (pol *AttachmentPolicy) maxSize() int64 {
	if pol == nil || pol.MaxSize <= 0 {
		return math.MaxInt64
	}
	return pol.MaxSize
}

func (pol *AttachmentPolicy) maxTotal() int64 {
	if pol == nil || pol.MaxTotal <= 0 {
		return math.MaxInt64
	}
	return pol.MaxTotal
}

// FormatSize writes n bytes for a person: "512 B", "31.5 MB", "25 MB"
// (powers of 1000, as the configuration writes "25MB").
func FormatSize(n int64) string {
	units := []struct {
		name string
		size float64
	}{{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}}
	for _, u := range units {
		if float64(n) >= u.size {
			s := fmt.Sprintf("%.1f", float64(n)/u.size)
			return strings.TrimSuffix(s, ".0") + " " + u.name
		}
	}
	return fmt.Sprintf("%d B", n)
}
