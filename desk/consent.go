package desk

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"ticketd/config"
	"ticketd/consent"
	"ticketd/store"
	"ticketd/templates"
)

// ConsentHandler is the consent page of d (GET and POST /consent/{token}):
// it works with d's store, consent key and log, and with the configuration
// and templates in force at each request, so a reload applies at once.
func ConsentHandler(d *Desk) *consent.Handler {
	return &consent.Handler{
		DB:     d.DB,
		Signer: d.signer,
		Config: d.Config,
		Render: func(w io.Writer, p *consent.Page) error { return d.rt.Load().templates.ConsentPage(w, p) },
		RenderError: func(w io.Writer, e *consent.ErrorPage) error {
			return d.rt.Load().templates.ConsentError(w, e)
		},
		Notice: func(lang string, tk *store.Ticket, p *config.Purpose) (string, string, error) {
			rt := d.rt.Load()
			return rt.templates.Notice(templates.Ack{Lang: lang, Ticket: tk.Number, Subject: tk.Subject,
				Controller: rt.cfg.Controller, Purpose: *p})
		},
		Log: d.Log,
	}
}

// PersonConsents is a person's consent history: what ticketd consent show prints.
type PersonConsents struct {
	Person   uint64            `json:"person"`
	Email    string            `json:"email"`
	Purposes []PurposeConsents `json:"purposes"`
}

// PurposeConsents is the history of one purpose, oldest decision first.
type PurposeConsents struct {
	Purpose string                 `json:"purpose"`
	Current string                 `json:"current"` // the latest decision
	Records []*store.ConsentRecord `json:"records"`
}

// ConsentHistory returns every consent decision of the person with address
// email, by purpose (the order the store keeps them in) and in order within
// a purpose. An unknown address is store.ErrNotFound.
func (d *Desk) ConsentHistory(email string) (*PersonConsents, error) {
	var out *PersonConsents
	err := d.DB.View(func(tx *store.Tx) error {
		p, err := tx.PersonByEmail(email)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no person with address %s: %w", strings.TrimSpace(email), store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		hist, err := tx.ConsentHistory(p.ID)
		if err != nil {
			return err
		}
		out = &PersonConsents{Person: p.ID, Email: p.Email, Purposes: []PurposeConsents{}}
		for _, rec := range hist {
			n := len(out.Purposes)
			if n == 0 || out.Purposes[n-1].Purpose != rec.Purpose {
				out.Purposes = append(out.Purposes, PurposeConsents{Purpose: rec.Purpose})
				n++
			}
			rec.At = rec.At.UTC()
			out.Purposes[n-1].Records = append(out.Purposes[n-1].Records, rec)
			out.Purposes[n-1].Current = rec.Decision
		}
		return nil
	})
	return out, err
}
