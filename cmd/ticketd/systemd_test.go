package main

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"ticketd/config"
)

// unitFile is contrib/systemd/ticketd.service: each key of [Service] with
// its values in order, and the other sections' keys as "Section.Key".
func unitFile(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../../contrib/systemd/ticketd.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("unit line %q has no =", line)
			}
			if section != "Service" {
				k = section + "." + k
			}
			keys[k] = append(keys[k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// installed is what `make install` writes, from `make -n install`: the
// files (target path to mode) and the directories it makes.
func installed(t *testing.T) (files, dirs map[string]string) {
	t.Helper()
	const stage = "/STAGE"
	cmd := exec.Command("make", "-s", "-n", "install", "DESTDIR="+stage)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n install: %v\n%s", err, out)
	}
	files, dirs = map[string]string{}, map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		_, cmdline, ok := strings.Cut(line, "install ")
		if !ok || strings.Contains(line, "go build") {
			continue
		}
		f := strings.Fields(cmdline)
		mode, dir, args := "", false, []string{}
		for i := 0; i < len(f); i++ {
			switch f[i] {
			case "-m":
				i++
				mode = f[i]
			case "-d":
				dir = true
			case "-D":
			default:
				args = append(args, f[i])
			}
		}
		if len(args) == 0 {
			continue
		}
		target := strings.TrimPrefix(args[len(args)-1], stage)
		if dir {
			dirs[target] = mode
		} else {
			files[target] = mode
		}
	}
	if len(files) == 0 {
		t.Fatalf("make -n install installs nothing:\n%s", out)
	}
	return files, dirs
}

// TestUnitMatchesInstall: the paths contrib/systemd/ticketd.service names
// are those make install writes: the binary of every Exec line, the
// configuration, the credentials' directory (private), the unit and the
// sysusers.d file that makes its User; its first StateDirectory is the
// default data_dir.
func TestUnitMatchesInstall(t *testing.T) {
	unit := unitFile(t)
	files, dirs := installed(t)

	var binaries, configs []string
	for _, k := range []string{"ExecStartPre", "ExecStart", "ExecReload"} {
		for _, v := range unit[k] {
			f := strings.Fields(strings.TrimLeft(v, "-+!@:"))
			if path.Base(f[0]) == "kill" {
				if len(f) < 3 || f[1] != "-HUP" || f[2] != "$MAINPID" {
					t.Errorf("%s=%s: reload sends SIGHUP to $MAINPID", k, v)
				}
				continue
			}
			binaries = append(binaries, f[0])
			for i := range f {
				if f[i] == "-config" && i+1 < len(f) {
					configs = append(configs, f[i+1])
				}
			}
		}
	}
	if len(binaries) < 3 || len(configs) != len(binaries) {
		t.Fatalf("Exec lines: binaries %v, configs %v", binaries, configs)
	}
	for _, b := range binaries {
		if files[b] != "0755" {
			t.Errorf("the unit runs %s, which make install does not install (mode 0755); it installs %v", b, files)
		}
	}
	for _, c := range configs {
		if _, ok := files[c]; !ok {
			t.Errorf("the unit reads %s, which make install does not put in place", c)
		}
		if _, ok := dirs[filepath.Dir(c)]; !ok {
			t.Errorf("make install makes no directory %s for %s", filepath.Dir(c), c)
		}
	}
	if !strings.Contains(strings.Join(unit["ExecReload"], " "), "check") {
		t.Errorf("ExecReload=%v: a reload checks the configuration first", unit["ExecReload"])
	}
	if len(unit["LoadCredential"]) == 0 {
		t.Error("no LoadCredential= line")
	}
	for _, v := range unit["LoadCredential"] {
		_, src, ok := strings.Cut(v, ":")
		if !ok {
			t.Errorf("LoadCredential=%s has no source path", v)
			continue
		}
		if mode, ok := dirs[filepath.Dir(src)]; !ok || mode != "0700" {
			t.Errorf("LoadCredential=%s: make install makes %s with mode %q, want 0700", v, filepath.Dir(src), mode)
		}
	}
	unitInstalled := false
	for f := range files {
		if path.Base(f) == "ticketd.service" && strings.Contains(f, "/systemd/system") {
			unitInstalled = true
		}
	}
	if !unitInstalled {
		t.Errorf("make install does not install the unit: %v", files)
	}
	sysusers, err := os.ReadFile("../../contrib/systemd/ticketd.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["/etc/sysusers.d/ticketd.conf"]; !ok {
		t.Errorf("make install does not install the sysusers.d file: %v", files)
	}
	if user := unit["User"]; len(user) != 1 || !strings.Contains(string(sysusers), "\nu "+user[0]+" ") {
		t.Errorf("User=%v is not the user ticketd.sysusers makes:\n%s", user, sysusers)
	}
	state := unit["StateDirectory"]
	if len(state) != 1 {
		t.Fatalf("StateDirectory=%v", state)
	}
	cfg, err := config.Parse("config.toml", []byte(minimalConfig(t)))
	if err != nil {
		t.Fatal(err)
	}
	if want := "/var/lib/" + strings.Fields(state[0])[0]; cfg.Server.DataDir != want {
		t.Errorf("the default data_dir %s is not the unit's first StateDirectory %s", cfg.Server.DataDir, want)
	}
	for _, k := range []string{"User", "NoNewPrivileges", "ProtectSystem", "PrivateTmp", "ProtectHome", "PrivateDevices", "RestrictAddressFamilies", "CapabilityBoundingSet"} {
		if len(unit[k]) == 0 {
			t.Errorf("the unit sets no %s", k)
		}
	}
	if got := unit["ProtectSystem"]; len(got) != 1 || got[0] != "strict" {
		t.Errorf("ProtectSystem=%v, want strict", got)
	}
}

// minimalConfig is config/configtest's minimal configuration without its
// data_dir, so the default applies.
func minimalConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../config/configtest/minimal.toml")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "data_dir") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// TestRunNeedsCredentials: a password_file from the unit's credentials
// without $CREDENTIALS_DIRECTORY: check warns and passes (an admin's
// check outside the unit), run refuses to start with exit 78 and says
// why.
func TestRunNeedsCredentials(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", "")
	text, _ := os.ReadFile(cfg)
	conf := strings.Replace(string(text), `password_file = "imap.pass"`, `password_file = "${CREDENTIALS_DIRECTORY}/imap.pass"`, 1)
	if conf == string(text) {
		t.Fatal("writeConfig has no password_file")
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	_, errOut, code := ticketd(t, nil, "check", "-config", cfg)
	if code != 0 || !strings.Contains(errOut, "CREDENTIALS_DIRECTORY is not set") {
		t.Errorf("check: exit %d, stderr %q; want 0 and a warning", code, errOut)
	}
	_, errOut, code = ticketd(t, nil, "run", "-config", cfg)
	if code != exitConfig || !strings.Contains(errOut, "mailbox[1].password_file") || !strings.Contains(errOut, "systemd unit") {
		t.Errorf("run: exit %d, stderr %q; want %d naming the key and the unit", code, errOut, exitConfig)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("run made a store although it did not start")
	}
}
