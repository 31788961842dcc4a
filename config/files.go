package config

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
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
	if c.Server.TemplatesDir != "" {
		c.Server.TemplatesDir = resolve(c.Server.TemplatesDir)
		d.directory("server.templates_dir", c.Server.TemplatesDir)
	}

	m := &c.SMTP
	m.CAFile, m.PasswordFile = resolve(m.CAFile), resolve(m.PasswordFile)
	d.endpointFiles("smtp", m.CAFile, m.PasswordFile, &m.Password)
	for i := range c.Mailboxes {
		b := &c.Mailboxes[i]
		b.CAFile, b.PasswordFile = resolve(b.CAFile), resolve(b.PasswordFile)
		d.endpointFiles(mailboxPath(i), b.CAFile, b.PasswordFile, &b.Password)
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
		if pem, err := os.ReadFile(caFile); err != nil {
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
	b, err := os.ReadFile(file)
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
