package config

import (
	"os"
	"path/filepath"
	"strings"
)

// CredentialsVar starts a password_file that systemd hands over with
// LoadCredential= (systemd.exec(5), "Credentials"): the unit names the
// file, systemd copies it, readable by the service only, into a private
// directory and sets $CREDENTIALS_DIRECTORY for the service's processes.
// "${CREDENTIALS_DIRECTORY}/imap.pass" is the credential imap.pass there.
const CredentialsVar = "${CREDENTIALS_DIRECTORY}"

// credential resolves the password_file at key: a CredentialsVar path in
// the credentials directory, any other with resolve. Outside the unit (no
// $CREDENTIALS_DIRECTORY) the file cannot be read: it returns "", the
// key is listed in Config.Uncredentialed and a warning says why. The
// commands that reach the daemon through the admin socket need no
// password; ticketd run refuses to start without it.
func (d *decoder) credential(c *Config, key, p string, resolve func(string) string) string {
	rest, ok := strings.CutPrefix(p, CredentialsVar)
	if !ok {
		return resolve(p)
	}
	name, ok := strings.CutPrefix(rest, "/")
	if !ok || name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		d.keyErrorf(key, "%q: after %s/ comes the name of one credential (LoadCredential=NAME:PATH), such as %s/imap.pass", p, CredentialsVar, CredentialsVar)
		return ""
	}
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" || !filepath.IsAbs(dir) {
		c.Uncredentialed = append(c.Uncredentialed, key)
		d.warnf(key, "%s: $CREDENTIALS_DIRECTORY is not set, so the credential %q is not read: only ticketd run under its systemd unit (LoadCredential=%s:...) reads it", key, name, name)
		return ""
	}
	return filepath.Join(dir, name)
}
