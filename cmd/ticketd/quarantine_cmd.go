package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"ticketd/desk"
)

// ticketd quarantine list|show|retry|delete: mail that could not become a ticket.

func init() {
	commands["quarantine"] = command{"quarantine [-config FILE] list [-json] | show [-json] ID | retry [-json] ID | delete ID",
		"list quarantined mail, show one with its headers, parse it again, or delete it", cmdQuarantine}
	register("quarantine.list", opQuarantineList)
	register("quarantine.show", opQuarantineShow)
	register("quarantine.retry", opQuarantineRetry)
	register("quarantine.delete", opQuarantineDelete)
}

// quarantineArgs are the arguments of the quarantine ops.
type quarantineArgs struct {
	ID   uint64 `json:"id,omitempty"`
	JSON bool   `json:"json,omitempty"`
}

func cmdQuarantine(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "quarantine")
	if err := parseCommand(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("quarantine", "list, show, retry or delete?")
	}
	name := fs.Arg(0)
	sub := subFlags(e, "quarantine", name, path)
	asJSON := sub.Bool("json", false, "print JSON")
	if err := parseFlags(sub, fs.Args()[1:]); err != nil {
		return err
	}
	switch name {
	case "list":
		if sub.NArg() != 0 {
			return usageError("quarantine", "list takes no arguments")
		}
		cfg, err := loadConfig(e, *path)
		if err != nil {
			return err
		}
		return callOp(ctx, cfg, "quarantine.list", quarantineArgs{JSON: *asJSON}, e.stdout)
	case "show", "retry", "delete":
	default:
		return usageError("quarantine", "unknown subcommand %q", name)
	}
	id, err := strconv.ParseUint(sub.Arg(0), 10, 64)
	if sub.NArg() != 1 || err != nil || id == 0 {
		return usageError("quarantine", "%s needs one quarantine id", name)
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	err = callOp(ctx, cfg, "quarantine."+name, quarantineArgs{ID: id, JSON: *asJSON}, e.stdout)
	if errors.Is(err, desk.ErrNotFound) {
		return fmt.Errorf("no quarantined mail %d", id)
	}
	return err
}

func opQuarantineList(_ context.Context, env *opEnv, args quarantineArgs, _ *opRequest, w io.Writer) error {
	qs, err := env.desk.ListQuarantine()
	if err != nil {
		return err
	}
	if args.JSON {
		return printJSON(w, qs)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTORED\tCHANNEL\tMAILBOX\tUID\tSIZE\tREASON")
	for _, q := range qs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", q.ID, q.StoredAt.Format(time.DateTime), q.Origin.Channel,
			dash(q.Origin.Mailbox), q.Origin.UID, q.Size, q.Reason)
	}
	return tw.Flush()
}

// quarantineID is the id argument of a quarantine op.
func quarantineID(args quarantineArgs) (uint64, error) {
	if args.ID == 0 {
		return 0, badRequest("quarantine id %d", args.ID)
	}
	return args.ID, nil
}

func opQuarantineShow(_ context.Context, env *opEnv, args quarantineArgs, _ *opRequest, out io.Writer) error {
	id, err := quarantineID(args)
	if err != nil {
		return err
	}
	v, err := env.desk.ShowQuarantine(id)
	return render(out, args.JSON, v, err, printQuarantine)
}

func printQuarantine(w io.Writer, v *desk.QuarantineView) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Quarantined mail %d, stored %s\n", v.ID, v.StoredAt.Local().Format(time.DateTime))
	fmt.Fprintf(&b, "Reason:    %s\n", printable(v.Reason))
	fmt.Fprintf(&b, "Size:      %d bytes\n", v.Size)
	o := v.Origin
	switch o.Channel {
	case desk.ChannelEmail:
		fmt.Fprintf(&b, "Origin:    email, mailbox %s, folder %s, UIDVALIDITY %d, UID %d, received %s\n",
			dash(o.Mailbox), dash(v.SourceFolder), o.UIDValidity, o.UID, o.ReceivedAt.Local().Format(time.DateTime))
	default:
		fmt.Fprintf(&b, "Origin:    %s, mailbox %s, received %s\n", o.Channel, dash(o.Mailbox), o.ReceivedAt.Local().Format(time.DateTime))
	}
	if v.Folder != "" {
		fmt.Fprintf(&b, "Moved to:  IMAP folder %s\n", v.Folder)
	}
	if o.MessageID != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\n", printable(o.MessageID))
	}
	switch v.StoredIn {
	case "":
		b.WriteString("Raw copy:  none\n")
	case "database":
		fmt.Fprintf(&b, "Raw copy:  inside ticketd.db (blob %s)\n", v.Blob)
	default:
		fmt.Fprintf(&b, "Raw copy:  %s\n", v.StoredIn)
	}
	if v.HeaderNote != "" {
		fmt.Fprintf(&b, "Note:      %s\n", v.HeaderNote)
	}
	if len(v.Headers) > 0 {
		b.WriteString("\nHeader of the raw copy:\n")
		for _, h := range v.Headers {
			fmt.Fprintf(&b, "  %s: %s\n", printable(oneLine(h.Name, 80)), printable(oneLine(h.Value, 200)))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func opQuarantineRetry(ctx context.Context, env *opEnv, args quarantineArgs, _ *opRequest, out io.Writer) error {
	id, err := quarantineID(args)
	if err != nil {
		return err
	}
	o, err := env.desk.RetryQuarantine(ctx, id)
	if err != nil {
		return err
	}
	if args.JSON {
		return printJSON(out, o)
	}
	switch {
	case o.Quarantine != 0:
		_, err = fmt.Fprintf(out, "quarantined mail %d: still quarantined: %s\n", id, o.Reason)
	case o.Duplicate:
		_, err = fmt.Fprintf(out, "quarantined mail %d: already stored in ticket #%d; the quarantine record is deleted\n", id, o.Ticket)
	default:
		_, err = fmt.Fprintf(out, "quarantined mail %d: %s; the quarantine record is deleted\n", id, describeOutcome(o))
	}
	return err
}

func opQuarantineDelete(_ context.Context, env *opEnv, args quarantineArgs, _ *opRequest, out io.Writer) error {
	id, err := quarantineID(args)
	if err != nil {
		return err
	}
	sc, err := env.desk.DeleteQuarantine(id)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "quarantined mail %d deleted, with its raw copy (free pages overwritten: %d)\n", id, sc.Pages)
	return err
}
