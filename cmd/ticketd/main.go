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
	exitUsage    = 64 // EX_USAGE: wrong flags or operands
	exitDataErr  = 65 // EX_DATAERR: the input data was bad
	exitNoInput  = 66 // EX_NOINPUT: an input file, or the store, does not exist or is unreadable
	exitTempFail = 75 // EX_TEMPFAIL: try again later
	exitConfig   = 78 // EX_CONFIG: the configuration is wrong
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
		"run":     {"run [-config FILE]", "run the daemon", cmdRun},
		"check":   {"check [-config FILE]", "check the configuration and report every problem", cmdCheck},
		"ingest":  {"ingest [-config FILE] [-mailbox NAME] [-silent] FILE...|-", "store mail from files or stdin (channel file)", cmdIngest},
		"outbox":  {"outbox [-config FILE] list [-json] | retry ID", "list outgoing mail or retry a failed one", cmdOutbox},
		"tickets": {"tickets [-config FILE] list [-json] [-queue NAME] [-overdue] [-assignee ADDRESS] | show [-json] N | close N | reopen N", "list tickets, show one, close or reopen one", cmdTickets},
		"demo":    {"demo [-imap ADDR] [-smtp ADDR] [-http ADDR] [-for D] [-keep] [-v] | send [-smtp ADDR] [-from ADDR] [-subject TEXT] TEXT...", "run ticketd on embedded IMAP and SMTP servers with seeded mail", cmdDemo},
		"version": {"version", "print the version", cmdVersion},
	} {
		commands[name] = c
	}
}

func cmdVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("version", "takes no arguments")
	}
	fmt.Fprintln(e.stdout, "ticketd", version)
	return nil
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
	fs := newFlagSet(e, name)
	return fs, fs.String("config", defaultConfig(), "configuration `file` (env TICKETD_CONFIG)")
}

// newFlagSet is a FlagSet for the command name that prints its usage line
// and flags on stderr.
func newFlagSet(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("ticketd "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: ticketd %s\n", commands[name].usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args in which flags may stand before, between and after
// the operands (tickets show 4 -config F); "--" ends the flags, and what
// follows it is operands even if it starts with "-". Afterwards fs.Args() are
// the operands in their order. -h, -help and --help print the usage and
// return an error that exits 0, so the command does nothing else; an unknown
// flag or a bad value prints the usage and exits 64.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return flagError(err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			operands = append(operands, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
	// Parsing "--" and the operands again sets fs.Args() to the operands
	// and leaves the flags as they were set.
	return flagError(fs.Parse(append([]string{"--"}, operands...)))
}

// parseCommand parses the flags before a subcommand (tickets -config F show
// 4): it stops at the first operand, which names the subcommand, and leaves
// it and all after it in fs.Args() for the subcommand's own FlagSet, which
// parses them with parseFlags.
func parseCommand(fs *flag.FlagSet, args []string) error {
	return flagError(fs.Parse(args))
}

// flagError turns an error of flag.Parse into the exit it asks for: 0 after
// -h (the usage is printed, nothing is done), 64 for anything else (the
// flag package printed the problem and the usage).
func flagError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		return &exitError{0, errReported}
	}
	return &exitError{exitUsage, errReported}
}

func usageError(name, format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf("%s: %s (usage: ticketd %s)", name, fmt.Sprintf(format, args...), commands[name].usage)}
}
