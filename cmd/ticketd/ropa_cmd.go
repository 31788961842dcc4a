package main

import (
	"context"
	"io"
)

// ticketd ropa: the record of processing activities (GDPR Art. 30(1)).

func init() {
	commands["ropa"] = command{"ropa [-config FILE] [-format md|json]",
		"print the record of processing activities (GDPR Art. 30(1)) of the configuration in force", cmdRopa}
	register("ropa", func(_ context.Context, env *opEnv, args ropaArgs, _ *opRequest, out io.Writer) error {
		r, err := env.desk.Record()
		if err != nil {
			return err
		}
		switch args.Format {
		case "", "md":
			return r.WriteMarkdown(out)
		case "json":
			return r.WriteJSON(out)
		}
		return badRequest("unknown format %q (md or json)", args.Format)
	})
}

// ropaArgs are the arguments of the op ropa.
type ropaArgs struct {
	Format string `json:"format"` // md or json
}

func cmdRopa(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "ropa")
	format := fs.String("format", "md", "output `format`: md (Markdown) or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("ropa", "takes no arguments")
	}
	if *format != "md" && *format != "json" {
		return usageError("ropa", "-format is md or json, not %q", *format)
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return callOp(ctx, cfg, "ropa", ropaArgs{Format: *format}, e.stdout)
}
