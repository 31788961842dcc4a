package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"ticketd/desk"
)

// ticketd consent show: a person's consent history, the proof of each
// decision (GDPR Art. 7(1)) that an admin hands an auditor.

func init() {
	commands["consent"] = command{"consent [-config FILE] show [-json] EMAIL",
		"print a person's consent decisions per purpose: decision, time, channel, token id, ticket, notice hash", cmdConsent}
	register("consent.show", func(_ context.Context, env *opEnv, args consentArgs, _ *opRequest, out io.Writer) error {
		h, err := env.desk.ConsentHistory(args.Email)
		if err != nil {
			return err
		}
		if args.JSON {
			return printJSON(out, h)
		}
		return printConsents(out, h, func(purpose string) string {
			if p := env.desk.Config().Purpose(purpose); p != nil {
				return string(p.LegalBasis)
			}
			return "no longer configured"
		})
	})
}

// consentArgs are the arguments of the op consent.show.
type consentArgs struct {
	Email string `json:"email"`
	JSON  bool   `json:"json,omitempty"`
}

func cmdConsent(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "consent")
	if err := parseCommand(fs, args); err != nil {
		return err
	}
	if fs.Arg(0) != "show" {
		return usageError("consent", "want the subcommand show")
	}
	sub := subFlags(e, "consent", "show", path)
	asJSON := sub.Bool("json", false, "print JSON")
	if err := parseFlags(sub, fs.Args()[1:]); err != nil {
		return err
	}
	if sub.NArg() != 1 {
		return usageError("consent", "show needs one EMAIL")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return callOp(ctx, cfg, "consent.show", consentArgs{Email: sub.Arg(0), JSON: *asJSON}, e.stdout)
}

// printConsents prints h as text, times in UTC (RFC 3339); basis names a
// purpose's legal basis.
func printConsents(w io.Writer, h *desk.PersonConsents, basis func(string) string) error {
	fmt.Fprintf(w, "Consent history of %s (person %d)\n", h.Email, h.Person)
	if len(h.Purposes) == 0 {
		_, err := fmt.Fprintln(w, "\nNo decisions recorded.")
		return err
	}
	for _, p := range h.Purposes {
		fmt.Fprintf(w, "\nPurpose %s (legal basis: %s), current: %s\n", p.Purpose, basis(p.Purpose), p.Current)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TIME (UTC)\tDECISION\tCHANNEL\tTICKET\tTOKEN\tNOTICE SHA-256")
		for _, r := range p.Records {
			ticket := "-"
			if r.Ticket != 0 {
				ticket = fmt.Sprintf("#%d", r.Ticket)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.At.UTC().Format(time.RFC3339), r.Decision, r.Channel, ticket,
				dash(r.TokenID), dash(r.NoticeHash))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
