// Command ticketd turns support mailboxes into a GDPR-compliant ticket system.
// See README.md and config.example.toml.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

var version = "dev" // set with -ldflags "-X main.version=..."

// Exit codes (sysexits.h), which an MTA piping into ticketd ingest understands.
const (
	exitUsage    = 64
	exitTempFail = 75
)

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// command is one subcommand.
type command struct {
	usage string
	help  string
	run   func(ctx context.Context, env *env, args []string) error
}

// env is what a command needs from the process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stopSignals restores default signal handling, so a second SIGINT or
	// SIGTERM ends the process at once during a slow shutdown.
	stopSignals func()
}

// commands are the subcommands; files that add one register it in their init.
var commands = map[string]command{}

func init() {
	for name, c := range map[string]command{
		"run":        {"run [-config FILE]", "run the daemon", cmdRun},
		"check":      {"check [-config FILE]", "check the configuration and report every problem", cmdCheck},
		"ingest":     {"ingest [-config FILE] [-mailbox NAME] [-silent] FILE...|-", "store mail from files or stdin (channel file)", cmdIngest},
		"outbox":     {"outbox [-config FILE] list [-json] | retry ID", "list outgoing mail or retry a failed one", cmdOutbox},
		"tickets":    {"tickets [-config FILE] list [-json] | show [-json] N | close N | reopen N", "list tickets, show one, close or reopen one", cmdTickets},
		"quarantine": {"quarantine [-config FILE] list [-json]", "list quarantined mail", cmdQuarantine},
		"demo":       {"demo", "run ticketd on embedded IMAP and SMTP servers with seeded mail", cmdDemo},
		"version": {"version", "print the version", func(_ context.Context, e *env, _ []string) error {
			fmt.Fprintln(e.stdout, "ticketd", version)
			return nil
		}},
	} {
		commands[name] = c
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stopSignals: stop}
	if err := run(ctx, e, os.Args[1:]); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "ticketd:", err)
		}
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// errReported means the command already printed what went wrong.
var errReported = errors.New("reported")

func run(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return &exitError{exitUsage, errReported}
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		usage(e.stderr)
		return &exitError{exitUsage, fmt.Errorf("unknown command %q", args[0])}
	}
	return cmd.run(ctx, e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ticketd COMMAND [ARGS]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-60s %s\n", commands[name].usage, commands[name].help)
	}
}

// defaultConfig is the config path when -config is not given.
func defaultConfig() string {
	if p := os.Getenv("TICKETD_CONFIG"); p != "" {
		return p
	}
	return "/etc/ticketd/config.toml"
}

// flags is a FlagSet for a subcommand, with -config.
func flags(e *env, name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("ticketd "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: ticketd %s\n", commands[name].usage)
		fs.PrintDefaults()
	}
	return fs, fs.String("config", defaultConfig(), "configuration `file` (env TICKETD_CONFIG)")
}

// parseFlags parses args; a usage error exits 64.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{exitUsage, errReported}
	}
	return nil
}

func usageError(name, format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf("%s: %s (usage: ticketd %s)", name, fmt.Sprintf(format, args...), commands[name].usage)}
}
