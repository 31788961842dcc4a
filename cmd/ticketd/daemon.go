package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"ticketd/config"
	"ticketd/desk"
	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/mail/smtp"
	"ticketd/metrics"
)

// shutdownGrace bounds how long a stop waits for batches in progress.
const shutdownGrace = 30 * time.Second

func cmdRun(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	if len(cfg.Uncredentialed) > 0 {
		return &exitError{exitConfig, fmt.Errorf("%s name a systemd credential (%s), but $CREDENTIALS_DIRECTORY is not set: start ticketd run through its systemd unit, whose LoadCredential= lines provide them",
			strings.Join(cfg.Uncredentialed, ", "), config.CredentialsVar)}
	}
	log, err := newLogger(e.stderr, cfg)
	if err != nil {
		return err
	}
	logWarnings(log, cfg)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d, err := startDaemon(cfg, log)
	if err != nil {
		return err
	}
	log.Info("ticketd started", "version", version, "mailboxes", len(cfg.Mailboxes), "data_dir", cfg.Server.DataDir)
	for {
		select {
		case <-hup:
			d.reload(*path)
		case <-ctx.Done():
			if e.stopSignals != nil {
				e.stopSignals() // a second signal ends the process at once
			}
			log.Info("stopping: finishing batches in progress")
			return d.stop()
		}
	}
}

// loadConfig loads and validates path, printing every problem; it exits 78
// (EX_CONFIG).
func loadConfig(e *env, path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, &exitError{exitConfig, errReported}
	}
	return cfg, nil
}

// logWarnings logs each warning of cfg (config.Config.Warnings).
func logWarnings(log *slog.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings {
		log.Warn("configuration warning", "warning", w.Error())
	}
}

func newLogger(w io.Writer, cfg *config.Config) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Server.LogLevel)); err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	// Log lines name tickets, messages and people by number; addresses
	// that still reach a line (in an error of a mail server, a warning
	// of the configuration) are masked.
	if cfg.Server.LogFormat == "json" {
		return slog.New(mail.MaskingHandler(slog.NewJSONHandler(w, opts))), nil
	}
	return slog.New(mail.MaskingHandler(slog.NewTextHandler(w, opts))), nil
}

// daemon is a running ticketd: the store, the desk, one supervisor per
// mailbox, the admin socket, the HTTP listener and the LMTP listener.
type daemon struct {
	log   *slog.Logger
	desk  *desk.Desk
	admin *adminServer
	http  *httpServer
	// metrics counts what happened; served on metricsLn ([server]
	// metrics_listen, nil when off).
	metrics   *metrics.Metrics
	metricsLn *httpServer
	sched     *desk.Scheduler
	svc       *desk.ServiceScheduler
	keys      *keySchedule  // key snapshots on [keys] schedule
	lmtp      *lmtpListener // [lmtp], nil when off
	spool     string
	// started is when the daemon started, for ticketd status.
	started time.Time

	mu       sync.Mutex
	cfg      *config.Config
	outbox   *smtp.Outbox
	sender   *smtp.Sender
	stopOut  context.CancelFunc
	outDone  chan struct{}
	sups     []*imap.Supervisor
	supsMu   sync.Mutex // guards sups for status readers
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	onReload func(*config.Config) // tests and the demo observe reloads
}

// startDaemon opens the store (failing at once when another process holds it)
// and starts the mailbox supervisors and the admin socket.
func startDaemon(cfg *config.Config, log *slog.Logger) (*daemon, error) {
	dk, err := desk.Open(cfg, log, desk.Options{})
	if desk.KindOf(err) == desk.KindTemporary {
		return nil, fmt.Errorf("another ticketd is already running with data_dir %s (its database is locked)", cfg.Server.DataDir)
	}
	if err != nil {
		return nil, masterKeyError(cfg, err)
	}
	d := &daemon{log: log, desk: dk, cfg: cfg, spool: filepath.Join(cfg.Server.DataDir, "spool"), started: time.Now()}
	if err := resetDir(d.spool); err != nil {
		dk.Close()
		return nil, err
	}
	dk.Spool = d.spool
	d.sched, err = dk.NewScheduler()
	if err != nil {
		dk.Close()
		return nil, err
	}
	d.svc, err = dk.NewServiceScheduler(nil)
	if err != nil {
		dk.Close()
		return nil, err
	}
	d.keys, err = newKeySchedule(dk.DB, cfg, log)
	if err != nil {
		dk.Close()
		return nil, err
	}
	d.metrics = metrics.New(d.metricsSnapshot)
	dk.Metrics = d.metrics
	d.outbox = &smtp.Outbox{DB: dk.DB, Log: log, Metrics: d.metrics}
	dk.Wake = d.outbox.Wake
	d.admin, err = startAdmin(cfg.Server.AdminSocket, &opEnv{desk: dk, live: d.liveStatus}, log)
	if err != nil {
		dk.Close()
		return nil, err
	}
	d.http, err = startHTTP(cfg.Server.HTTPListen, d.healthy, desk.ConsentHandler(dk))
	if err != nil {
		d.admin.close()
		dk.Close()
		return nil, err
	}
	d.metricsLn, err = startMetrics(cfg.Server.MetricsListen, d.metrics)
	if err != nil {
		d.http.close()
		d.admin.close()
		dk.Close()
		return nil, err
	}
	if err := d.openLMTP(&cfg.LMTP); err != nil {
		d.metricsLn.close()
		d.http.close()
		d.admin.close()
		dk.Close()
		return nil, err
	}
	d.startOutbox()
	d.startMailboxes()
	d.sched.Start()
	d.svc.Start()
	d.keys.Start()
	return d, nil
}

// startOutbox sends queued mail through the configured relay.
func (d *daemon) startOutbox() {
	d.sender = smtp.NewSender(&d.cfg.SMTP, heloName(d.cfg), d.log)
	d.outbox.Send = d.sender
	ctx, cancel := context.WithCancel(context.Background())
	d.stopOut, d.outDone = cancel, make(chan struct{})
	go func() {
		defer close(d.outDone)
		d.outbox.Run(ctx)
	}()
}

// stopOutbox lets a send in progress finish and closes the relay connection.
func (d *daemon) stopOutbox() {
	d.stopOut()
	select {
	case <-d.outDone:
	case <-time.After(shutdownGrace):
		d.log.Error("outbox did not stop", "within", shutdownGrace)
	}
	d.sender.Close()
}

// heloName is the name ticketd greets the relay with: the host of public_url.
func heloName(cfg *config.Config) string {
	if u, err := url.Parse(cfg.Server.PublicURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "localhost"
}

// resetDir empties dir (spooled mail of a previous run was never committed) and creates it.
func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}

func (d *daemon) startMailboxes() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.supsMu.Lock()
	defer d.supsMu.Unlock()
	d.sups = nil
	for i := range d.cfg.Mailboxes {
		sup := &imap.Supervisor{Box: &d.cfg.Mailboxes[i], DB: d.desk.DB, Deliver: d.desk, Log: d.log, SpoolDir: d.spool}
		d.sups = append(d.sups, sup)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			sup.Run(ctx)
		}()
	}
}

// status reports the health of each mailbox.
func (d *daemon) status() []imap.Status {
	d.supsMu.Lock()
	defer d.supsMu.Unlock()
	out := make([]imap.Status, 0, len(d.sups))
	for _, s := range d.sups {
		out = append(out, s.Status())
	}
	return out
}

// healthy reports whether every mailbox is connected, for /healthz.
func (d *daemon) healthy() bool {
	for _, s := range d.status() {
		if !s.Connected {
			return false
		}
	}
	return true
}

// liveStatus is the daemon's part of ticketd status.
func (d *daemon) liveStatus() *desk.Live {
	purge, sweep := d.sched.Next()
	remind, digest := d.svc.Next()
	return &desk.Live{PID: os.Getpid(), Version: version, Started: d.started, Mailboxes: d.status(),
		NextPurge: purge, NextConsentCheck: sweep, NextReminders: remind, NextDigest: digest}
}

// stopMailboxes lets each supervisor finish its batch, waiting at most shutdownGrace.
func (d *daemon) stopMailboxes() error {
	d.cancel()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(shutdownGrace):
		return fmt.Errorf("mailboxes did not stop within %v", shutdownGrace)
	}
}

// reload applies a new configuration, keeping the old one when the new one is
// bad or changes what cannot change while running.
func (d *daemon) reload(path string) {
	cfg, err := config.Load(path)
	if err != nil {
		d.log.Error("reload rejected, keeping the running configuration", "err", err)
		return
	}
	if len(cfg.Uncredentialed) > 0 {
		d.log.Error("reload rejected, keeping the running configuration", "err", "$CREDENTIALS_DIRECTORY is not set", "keys", cfg.Uncredentialed)
		return
	}
	logWarnings(d.log, cfg)
	d.apply(cfg)
}

// apply puts cfg in force for every part of the daemon, or for none: each
// part first prepares what can fail (the desk its templates, the scheduler
// its schedules), and only when all succeeded are they swapped in together.
func (d *daemon) apply(cfg *config.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := fixedWhileRunning(d.cfg, cfg)
	var applyDesk, applySched, applySvc, applyKeys, applyLMTP func()
	if err == nil {
		applyDesk, err = d.desk.PrepareConfig(cfg)
	}
	if err == nil {
		applySched, err = d.sched.Prepare(cfg)
	}
	if err == nil {
		applySvc, err = d.svc.Prepare(cfg)
	}
	if err == nil {
		applyKeys, err = d.keys.Prepare(cfg)
	}
	if err == nil { // last: it opens the new listener, which nothing after may fail to use
		applyLMTP, err = d.prepareLMTP(&cfg.LMTP)
	}
	if err != nil {
		d.log.Error("reload rejected, keeping the running configuration", "err", err)
		return
	}
	if err := d.stopMailboxes(); err != nil {
		d.log.Error("reload: stopping mailboxes", "err", err)
	}
	d.stopOutbox()
	applyDesk()
	applySched()
	applySvc()
	applyKeys()
	applyLMTP()
	d.cfg = cfg
	d.startOutbox()
	d.startMailboxes()
	d.log.Info("configuration reloaded", "mailboxes", len(cfg.Mailboxes))
	if d.onReload != nil {
		d.onReload(cfg)
	}
}

// fixedWhileRunning reports a change of what a running daemon cannot change.
func fixedWhileRunning(old, cfg *config.Config) error {
	switch {
	case cfg.Server.DataDir != old.Server.DataDir:
		return errors.New("data_dir cannot change while running; restart ticketd")
	case cfg.Server.AdminSocket != old.Server.AdminSocket:
		return errors.New("admin_socket cannot change while running; restart ticketd")
	case cfg.Server.HTTPListen != old.Server.HTTPListen:
		return errors.New("http_listen cannot change while running; restart ticketd")
	case cfg.Server.MetricsListen != old.Server.MetricsListen || cfg.Server.MetricsAllowRemote != old.Server.MetricsAllowRemote:
		return errors.New("metrics_listen cannot change while running; restart ticketd")
	}
	return nil
}

// stop shuts down in order: mailboxes (finishing their batches), the LMTP
// listener (finishing its commit), the outbox (finishing its send), the
// retention scheduler (ending its run between two batches), the
// service-level scheduler (finishing its run), the key snapshot scheduler
// (finishing its snapshot), the listeners, and the store last.
func (d *daemon) stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.stopMailboxes()
	d.lmtp.close()
	d.stopOutbox()
	d.sched.Stop()
	d.svc.Stop()
	d.keys.Stop()
	d.metricsLn.close()
	d.http.close()
	d.admin.close()
	if cerr := d.desk.Close(); err == nil {
		err = cerr
	}
	d.log.Info("ticketd stopped")
	return err
}
