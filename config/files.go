package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// files resolves relative paths against dir, the configuration file's
// directory, then reads the secret and CA files and checks that templates_dir
// is a directory (the templates in it are checked where they are parsed).
// This is the part of Load that Parse leaves out.
func (d *decoder) files(c *Config, dir string) {
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Server.DataDir = resolve(c.Server.DataDir)
	c.Server.AdminSocket = resolve(c.Server.AdminSocket)
	// The consent key, made by package consent on first start, follows the
	// secret rule; check reports one that breaks it with everything else.
	// So does the agent key of package agent, which signs the agents'
	// reply addresses.
	for _, name := range []string{ConsentKeyFile, AgentKeyFile} {
		key := filepath.Join(c.Server.DataDir, name)
		if err := CheckFile(key, Secret, KeySize); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.keyErrorf("server.data_dir", "%v", err)
		}
	}
	c.Server.MasterKeyFile = resolve(c.Server.MasterKeyFile)
	d.masterKey(c.Server.MasterKeyFile, c.Server.DataDir)
	d.keysFiles(c, resolve)
	if c.Server.TemplatesDir != "" {
		c.Server.TemplatesDir = resolve(c.Server.TemplatesDir)
		d.directory("server.templates_dir", c.Server.TemplatesDir)
	}

	m := &c.SMTP
	m.CAFile, m.PasswordFile = resolve(m.CAFile), d.credential(c, "smtp.password_file", m.PasswordFile, resolve)
	d.endpointFiles("smtp", m.CAFile, m.PasswordFile, &m.Password)
	d.oauthFiles("smtp", m.Auth, "-smtp", &m.OAuth, resolve)
	for i := range c.Mailboxes {
		b := &c.Mailboxes[i]
		b.CAFile, b.PasswordFile = resolve(b.CAFile), d.credential(c, mailboxPath(i)+".password_file", b.PasswordFile, resolve)
		d.endpointFiles(mailboxPath(i), b.CAFile, b.PasswordFile, &b.Password)
		d.oauthFiles(mailboxPath(i), b.Auth, b.Name, &b.OAuth, resolve)
	}
}

// directory reports the key at path unless dir is an existing directory.
func (d *decoder) directory(path, dir string) {
	if fi, err := os.Stat(dir); err != nil {
		d.keyErrorf(path, "%v", err)
	} else if !fi.IsDir() {
		d.keyErrorf(path, "%s is not a directory", dir)
	}
}

// endpointFiles checks the CA bundle and reads the password of the [smtp] or
// [[mailbox]] table at table.
func (d *decoder) endpointFiles(table, caFile, passwordFile string, password *string) {
	if caFile != "" {
		if pem, err := ReadFile(caFile, Public, MaxPublicFile); err != nil {
			d.keyErrorf(table+".ca_file", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			d.keyErrorf(table+".ca_file", "no PEM certificate in %s", caFile)
		}
	}
	if passwordFile != "" {
		*password = d.secret(table+".password_file", passwordFile)
	}
}

// secret returns the content of the secret file named by the key at path,
// without one trailing newline. A missing or empty file is an error, never
// an empty password.
func (d *decoder) secret(path, file string) string {
	b, err := ReadFile(file, Secret, MaxSecretFile)
	if err != nil {
		d.keyErrorf(path, "%v", err)
		return ""
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		s = t
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		d.keyErrorf(path, "%s is empty", file)
	}
	return s
}

// The key files in data_dir: the consent key (package consent) and the
// agent key (package agent), each KeySize random bytes.
const (
	ConsentKeyFile = "consent.key"
	// MasterKeyFile is the default name of [server] master_key_file, in
	// the configuration file's directory.
	MasterKeyFile  = "master.key"
	AgentKeyFile   = "agent.key"
	KeySize        = 32
	ConsentKeySize = KeySize
)

// Limits of ReadFile for the files ticketd reads.
const (
	// MaxSecretFile bounds a password file: a password is a line.
	MaxSecretFile = 4 << 10
	// MaxPublicFile bounds a CA bundle: the system's whole bundle is about 200 KiB.
	MaxPublicFile = 1 << 20
)

// Kind says which rule of ReadFile a file must meet.
type Kind int

const (
	// Secret is a file only its owner may read: no access at all for group
	// or others (a password file, the consent key).
	Secret Kind = iota
	// Public is a file anyone may read but only its owner may change: not
	// writable by group or others (a CA bundle: whoever can change it can
	// make ticketd trust their server with its password).
	Public
)

// Errors of ReadFile, each wrapped in a *FileError.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrFileOwner  = errors.New("owned by another user")
	ErrFileMode   = errors.New("group or others have access")
	ErrFileSize   = errors.New("too large")
)

// FileError is why ReadFile refused a file: Path and one of the errors above,
// with the detail an admin needs to fix it.
type FileError struct {
	Path   string
	Err    error
	Detail string
}

func (e *FileError) Error() string { return e.Path + ": " + e.Detail }
func (e *FileError) Unwrap() error { return e.Err }

// ReadFile reads a file ticketd is told to read (a *_file key, the consent
// key), refusing one that is not a regular file, belongs to a user other
// than the one ticketd runs as or root, grants group or others more than the
// kind allows, or holds more than limit bytes.
//
// The file is opened without blocking and without becoming a controlling
// terminal, so a FIFO or a device never stalls it, and the checks are made
// on the opened descriptor, so the file checked is the file read (a symbolic
// link is followed: the rules apply to what it names). At most limit+1 bytes
// are read, so a file that grows meanwhile, or reports no size, is bounded too.
func ReadFile(path string, kind Kind, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkFile(path, fi, kind, limit); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &FileError{path, ErrFileSize, fmt.Sprintf("more than %d bytes (at most %d are read)", limit, limit)}
	}
	return b, nil
}

// CheckFile applies ReadFile's rules to path without reading it.
func CheckFile(path string, kind Kind, limit int64) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return checkFile(path, fi, kind, limit)
}

// checkFile applies ReadFile's rules to fi, the opened file's status.
func checkFile(path string, fi fs.FileInfo, kind Kind, limit int64) error {
	if !fi.Mode().IsRegular() {
		return &FileError{path, ErrNotRegular, fmt.Sprintf("not a regular file (%s)", fileType(fi.Mode()))}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != 0 && uid != os.Geteuid() {
			return &FileError{path, ErrFileOwner, fmt.Sprintf("owned by uid %d; it must belong to the user ticketd runs as (uid %d) or root", uid, os.Geteuid())}
		}
	}
	perm := fi.Mode().Perm()
	switch {
	case kind == Secret && perm&0o077 != 0:
		return &FileError{path, ErrFileMode, fmt.Sprintf("group or others have access (mode %04o); it must be readable by its owner only (chmod 600)", perm)}
	case kind == Public && perm&0o022 != 0:
		return &FileError{path, ErrFileMode, fmt.Sprintf("writable by group or others (mode %04o); only its owner may change it (chmod 644)", perm)}
	}
	if fi.Size() > limit {
		return &FileError{path, ErrFileSize, fmt.Sprintf("%d bytes, more than the %d allowed", fi.Size(), limit)}
	}
	return nil
}

func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return m.Type().String()
}

// masterKey checks the master key file: it must not be inside the data
// directory (a copy of the data directory would carry the key that opens
// it), and one that exists follows the secret rule and holds KeySize bytes.
// A missing one is made on first start.
func (d *decoder) masterKey(path, dataDir string) {
	if path == "" {
		d.keyErrorf("server.master_key_file", "must not be empty")
		return
	}
	if Inside(path, dataDir) {
		d.keyErrorf("server.master_key_file", "%s is inside data_dir %s: keep the master key apart from the data it opens", path, dataDir)
		return
	}
	if err := CheckFile(path, Secret, KeySize); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.keyErrorf("server.master_key_file", "%v", err)
	}
}

// Inside reports whether path is dir or below it, comparing cleaned
// absolute paths, with symbolic links of the existing part resolved.
func Inside(path, dir string) bool {
	abs := func(p string) string {
		p, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		if r, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
			return filepath.Join(r, filepath.Base(p))
		}
		return p
	}
	rel, err := filepath.Rel(abs(dir), abs(path))
	return err == nil && (rel == "." || !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != "..")
}
