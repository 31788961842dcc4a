package config

import (
	"regexp"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// Attachments limits the attachments a mail may bring into a ticket (GDPR
// Art. 5(1)(c) and 32: only what the purpose needs, nothing that runs). The
// type of an attachment is decided by its content, never by its file name
// or its declared Content-Type; a refused attachment is not stored but
// noted on the ticket (name, type, size, reason).
type Attachments struct {
	// MaxSize is the largest attachment kept, in decoded bytes; default "25MB".
	MaxSize Size `toml:"max_size"`
	// MaxTotal is the most all kept attachments of one mail may add up to;
	// the attachment that would pass it, and any after it that does not
	// fit, is dropped. Default "50MB"; at least max_size.
	MaxTotal Size `toml:"max_total"`
	// Allow are the media types kept ("application/pdf") or a top-level
	// type with a wildcard ("image/*"); [] allows every type not refused.
	// Default DefaultAllow.
	Allow []string `toml:"allow"`
	// Refuse are the media types never kept, in the same form; they win
	// over Allow, and also refuse the types that are a kind of them.
	// Default DefaultRefuse.
	Refuse []string `toml:"refuse"`
}

// DefaultAllow is the office set: PDF, images, plain text, CSV, calendar
// invitations, HTML parts, the OOXML and ODF documents and attached mail.
// Archives (application/zip, 7z, rar, gzip) are left out on purpose: they
// hide their content from the sniffing, and a zipped executable is the most
// common way malware comes by mail; a customer can send the files
// themselves. Legacy binary Office documents (application/msword,
// application/vnd.ms-excel) are left out too: they carry macros and share
// their container with installers (application/x-ole-storage).
var DefaultAllow = []string{
	"application/pdf",
	"image/*",
	"text/plain",
	"text/csv",
	"text/calendar",
	"text/html",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"application/vnd.oasis.opendocument.text",
	"application/vnd.oasis.opendocument.spreadsheet",
	"application/vnd.oasis.opendocument.presentation",
	"message/rfc822",
}

// DefaultRefuse are executables, installers, packages and scripts, by the
// names the content sniffing (github.com/gabriel-vasile/mimetype) gives
// them: a Windows executable (also called application/x-dosexec or
// x-msdownload) is application/vnd.microsoft.portable-executable, an ELF
// file application/x-elf (with x-executable, x-sharedlib, x-object), an MSI
// application/x-ms-installer. SVG images are refused as the documents with
// scripts they can be. Disk images (ISO 9660, Apple DMG) carry their
// signature beyond the sniffed start or at their end, so they sniff as
// application/octet-stream, which DefaultAllow does not allow.
var DefaultRefuse = []string{
	"application/vnd.microsoft.portable-executable",
	"application/x-elf",
	"application/x-mach-binary",
	"application/x-ms-installer",
	"application/vnd.ms-cab-compressed",
	"application/java-archive",
	"application/x-java-applet",
	"application/vnd.android.package-archive",
	"application/vnd.debian.binary-package",
	"application/x-rpm",
	"application/x-chrome-extension",
	"application/wasm",
	"application/x-ms-shortcut",
	"application/vnd.ms-htmlhelp",
	"application/x-shockwave-flash",
	"text/x-shellscript",
	"text/x-python",
	"text/x-perl",
	"text/x-php",
	"text/x-tcl",
	"text/x-lua",
	"text/javascript",
	"image/svg+xml",
}

// attachmentsDefaults fills in the [attachments] keys the file leaves out.
func (d *decoder) attachmentsDefaults(c *Config) {
	a := &c.Attachments
	setDefault(d, "attachments.max_size", &a.MaxSize, 25_000_000)
	setDefault(d, "attachments.max_total", &a.MaxTotal, 50_000_000)
	setDefault(d, "attachments.allow", &a.Allow, append([]string{}, DefaultAllow...))
	setDefault(d, "attachments.refuse", &a.Refuse, append([]string{}, DefaultRefuse...))
}

// mediaRange is a media type (RFC 6838 section 4.2 restricted names) or a
// top-level type with "/*".
var mediaRange = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$`)

// windowsExe are other names of what the content sniffing calls
// application/vnd.microsoft.portable-executable.
var windowsExe = map[string]bool{"application/x-dosexec": true, "application/x-msdownload": true,
	"application/x-msdos-program": true, "application/x-ms-dos-executable": true, "application/exe": true}

// attachmentsValidate checks the [attachments] table.
func (d *decoder) attachmentsValidate(c *Config) {
	a := &c.Attachments
	if a.MaxSize < 1 {
		d.keyErrorf("attachments.max_size", "must be at least 1 byte, got %s", a.MaxSize)
	}
	if a.MaxTotal < a.MaxSize {
		d.keyErrorf("attachments.max_total", "must be at least max_size (%s), got %s", a.MaxSize, a.MaxTotal)
	}
	for _, list := range []struct {
		key   string
		types []string
	}{{"attachments.allow", a.Allow}, {"attachments.refuse", a.Refuse}} {
		seen := map[string]bool{}
		for i, t := range list.types {
			p := index(list.key, i+1)
			lt := strings.ToLower(strings.TrimSpace(t))
			switch {
			case !mediaRange.MatchString(lt):
				d.keyErrorf(p, `must be a media type such as "application/pdf" or "image/*", got %q`, t)
				continue
			case seen[lt]:
				d.keyErrorf(p, "%q is listed twice", t)
			case !strings.HasSuffix(lt, "/*") && mimetype.Lookup(lt) == nil:
				hint := ""
				if windowsExe[lt] {
					hint = ` (a Windows program is "application/vnd.microsoft.portable-executable")`
				}
				d.warnf(p, "%s: the content sniffing never gives %q, so it matches no attachment%s", p, t, hint)
			}
			seen[lt] = true
		}
	}
}
