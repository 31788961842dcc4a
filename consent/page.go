package consent

import (
	"time"

	"ticketd/config"
	"ticketd/store"
)

// ChannelLink is the channel of a decision made on the consent page.
const ChannelLink = "link"

// Page is what the consent page shows; the templates render it.
type Page struct {
	Lang       string // "de" | "en"
	Ticket     uint64
	Subject    string // the ticket's subject, from the customer's mail: escape it
	Name       string // the customer's name from their mail, may be "": escape it
	Controller config.Controller
	// Purposes are the ticket's own purpose first, then every purpose with
	// legal basis consent that no queue names: optional purposes the
	// customer may opt in to.
	Purposes []PagePurpose
	// Restricted is when processing of the ticket was restricted because
	// consent was not given or was withdrawn (zero: it is not restricted).
	Restricted time.Time
	// Recorded is the decision just recorded, shown as a confirmation; nil
	// when the page was not opened after a decision.
	Recorded *Recorded
	// OtherLang is the other language ("en" on a German page) and
	// OtherLangURL the page in it, relative to the page ("?lang=en").
	OtherLang, OtherLangURL string
	// FormValidity is how long the page's buttons work after it was rendered.
	FormValidity time.Duration
}

// PagePurpose is one purpose on the page with the customer's current
// decision about it and the button that changes it.
type PagePurpose struct {
	Purpose config.Purpose
	ID      string // an HTML id unique on the page, for headings and aria references
	Own     bool   // the ticket's own purpose (else an optional one based on consent)
	// State is the latest decision: store.ConsentGranted, ConsentWithdrawn,
	// ConsentObjected, or "" when none was made; Since is when (UTC).
	State string
	Since time.Time
	// Offer is the decision the purpose's button records ("" for no button):
	// granted or withdrawn for consent, objected for legitimate interest
	// (Art. 21); contract and legal obligation have none.
	Offer string
	Form  string // the anti-forgery value of the button's form
	// Notice is the transparency notice (Art. 13) for the purpose as text, as
	// the acknowledgement carries it; NoticeHash is its SHA-256, recorded
	// with a decision about the purpose.
	Notice, NoticeHash string
}

// Recorded is a decision as it was recorded, for the confirmation.
type Recorded struct {
	Purpose    config.Purpose // Name only when the purpose is no longer configured
	Decision   string         // granted | withdrawn | objected
	At         time.Time      // UTC
	Channel    string
	TokenID    string
	NoticeHash string
}

// Kinds of error page.
const (
	KindNotFound    = "not_found"    // 404: a bad, expired or unknown link
	KindStaleForm   = "stale_form"   // 403: the form is out of date, missing or forged
	KindCrossSite   = "cross_site"   // 403: the form was sent from another site
	KindBadRequest  = "bad_request"  // 400: a form the page never offered
	KindMethod      = "method"       // 405
	KindRateLimited = "rate_limited" // 429
	KindInternal    = "internal"     // 500
)

// ErrorPage is what an error page of the consent page shows. It names
// nothing of a ticket or person, only the controller's contact address.
type ErrorPage struct {
	Lang       string // "de" | "en"
	Status     int    // the HTTP status
	Kind       string // one of the Kind constants
	Back       string // KindStaleForm: the page again, relative to the request ("TOKEN?lang=de")
	RetryAfter int    // KindRateLimited: seconds until the next request is accepted
	Controller config.Controller
}

// Offer is the decision the page offers for a purpose with legal basis
// basis whose latest decision is state: a grant or, once granted, a
// withdrawal for consent; an objection for legitimate interest until one
// is recorded; nothing for contract and legal obligation.
func Offer(basis config.LegalBasis, state string) string {
	switch basis {
	case config.BasisConsent:
		if state == store.ConsentGranted {
			return store.ConsentWithdrawn
		}
		return store.ConsentGranted
	case config.BasisLegitimateInterest:
		if state == store.ConsentObjected {
			return ""
		}
		return store.ConsentObjected
	}
	return ""
}

// allowed reports whether decision can be made about a purpose with basis.
func allowed(basis config.LegalBasis, decision string) bool {
	switch basis {
	case config.BasisConsent:
		return decision == store.ConsentGranted || decision == store.ConsentWithdrawn
	case config.BasisLegitimateInterest:
		return decision == store.ConsentObjected
	}
	return false
}

// offered returns the purposes the page of tk shows: its own purpose, then
// every purpose based on consent that no queue names, in config order.
func offered(cfg *config.Config, tk *store.Ticket) []*config.Purpose {
	var out []*config.Purpose
	if p := cfg.Purpose(tk.Purpose); p != nil {
		out = append(out, p)
	}
	named := map[string]bool{}
	for _, q := range cfg.Queues {
		named[q.Purpose] = true
	}
	for i := range cfg.Purposes {
		p := &cfg.Purposes[i]
		if p.LegalBasis == config.BasisConsent && !named[p.Name] && p.Name != tk.Purpose {
			out = append(out, p)
		}
	}
	return out
}

// offeredPurpose returns the purpose called name if the page of tk shows it.
func offeredPurpose(cfg *config.Config, tk *store.Ticket, name string) *config.Purpose {
	for _, p := range offered(cfg, tk) {
		if p.Name == name {
			return p
		}
	}
	return nil
}
