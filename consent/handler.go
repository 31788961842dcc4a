package consent

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ticketd/config"
	"ticketd/store"
)

// Handler serves the consent page at GET and POST /consent/{token}; mount
// it on "/consent/". Its dependencies are injected; Config, Render,
// RenderError and Notice are called on every request, so a reloaded
// configuration or template set takes effect at once.
type Handler struct {
	DB     *store.DB
	Signer *Signer
	Config func() *config.Config
	// Render writes the page; RenderError writes an error page.
	Render      func(w io.Writer, p *Page) error
	RenderError func(w io.Writer, e *ErrorPage) error
	// Notice renders the transparency notice (Art. 13) of purpose p for
	// ticket tk in lang as the acknowledgement's text part carries it, and
	// returns it with its hex SHA-256.
	Notice func(lang string, tk *store.Ticket, p *config.Purpose) (text, hash string, err error)
	// Now is the clock; nil means DB.Now.
	Now func() time.Time
	// Log gets failures and recorded decisions (identifiers only); nil discards.
	Log *slog.Logger

	once    sync.Once
	limiter *limiter
	formKey []byte
	origins atomic.Pointer[originCheck]
}

// contentSecurityPolicy allows inline styles and nothing else: no scripts,
// no images, fonts or frames, forms only to the page itself.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBytes bounds a POST body; the page's forms send about 150 bytes.
const maxFormBytes = 4 << 10

// unknownTokenID is looked up for a token that did not verify, so that a
// bad token costs the same store lookups as a good one. Token ids are 16
// random bytes; this one is never issued.
var unknownTokenID = strings.Repeat("0", 32)

// Errors a POST ends in besides a store error.
var (
	errNotFound   = errors.New("consent: no such link")
	errBadRequest = errors.New("consent: the page offers no such decision")
)

func (h *Handler) init() {
	h.once.Do(func() {
		h.limiter = newLimiter(maxClients)
		h.formKey = h.Signer.formKey()
		if h.Log == nil {
			h.Log = slog.New(slog.DiscardHandler)
		}
	})
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return h.DB.Now()
}

// ServeHTTP answers one request. Every answer carries the security headers
// (see contentSecurityPolicy; no referrer, no caching, no sniffing); every
// request, good or bad, takes a token from its client's rate-limit bucket.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.init()
	cfg := h.Config()
	now := h.now()
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-store")

	if wait := h.limiter.take(clientKey(cfg, r), cfg.Consent.RateLimit, now); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		hdr.Set("Retry-After", strconv.Itoa(secs))
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusTooManyRequests, Kind: KindRateLimited, RetryAfter: secs})
		return
	}
	token, _ := strings.CutPrefix(r.URL.Path, "/consent/")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.get(w, r, cfg, token, now)
	case http.MethodPost:
		h.post(w, r, cfg, token, now)
	default:
		hdr.Set("Allow", "GET, HEAD, POST")
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusMethodNotAllowed, Kind: KindMethod})
	}
}

// subject is what a good token leads to.
type subject struct {
	claims Claims
	ticket *store.Ticket
	person *store.Person
}

// lookup resolves token. A token that is malformed, forged or expired, has
// no issued record, or whose ticket or person is gone (or is not the
// ticket's requester any more), or that was not mailed to the person's
// current address, yields false, and each such token costs the same: one
// HMAC, four store lookups and one address digest. Nothing tells them
// apart, so a caller cannot learn whether a ticket or person exists.
//
// The address check is what makes a link act only for the address it was
// mailed to: a version 2 token carries a keyed digest of that address
// (Signer.MailedTo), compared with the person's address now, so a link
// stops working when the person's address is rectified, and an erased
// person's link finds nobody. A version 1 token, issued before tokens
// named their recipient, is accepted only when the acknowledgement that
// carried it is still in the outbox and went to the person's address
// alone; otherwise it may have gone elsewhere (to a Reply-To address).
func (h *Handler) lookup(tx *store.Tx, token string, now time.Time) (*subject, bool) {
	c, verr := h.Signer.verifyEvenly(token, now)
	id := c.ID
	if verr != nil {
		id, c = unknownTokenID, Claims{}
	}
	rec, err1 := tx.ConsentTokenRecord(id)
	tk, err2 := tx.Ticket(c.Ticket)
	p, err3 := tx.Person(c.Person)
	var ackOutbox uint64
	if err2 == nil && tk.Ack != nil && tk.Ack.ConsentID == c.ID {
		ackOutbox = tk.Ack.OutboxID
	}
	ack, err4 := tx.OutboxItem(ackOutbox)
	email := ""
	if err3 == nil {
		email = p.Email
	}
	bound := h.Signer.mailedToEvenly(c, email)
	if verr != nil {
		return nil, false
	}
	if errors.Is(err4, store.ErrNotFound) {
		ack, err4 = nil, nil // only a version 1 token needs it
	}
	for _, err := range []error{err1, err2, err3, err4} {
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			h.Log.Error("consent page: read the store", "token", c.ID, "err", err)
		}
		return nil, false
	}
	if rec.Ticket != c.Ticket || rec.Person != c.Person || rec.Purpose != c.Purpose || tk.RequesterID != p.ID {
		return nil, false
	}
	switch c.Version {
	case version2:
		if !bound {
			return nil, false
		}
	case version1:
		if ack == nil || ackOutbox == 0 || len(ack.To) != 1 || store.NormalizeEmail(ack.To[0]) != p.Email {
			return nil, false
		}
	default:
		return nil, false
	}
	return &subject{claims: c, ticket: tk, person: p}, true
}

// get shows the page. It only reads.
func (h *Handler) get(w http.ResponseWriter, r *http.Request, cfg *config.Config, token string, now time.Time) {
	var page *Page
	err := h.DB.View(func(tx *store.Tx) error {
		s, ok := h.lookup(tx, token, now)
		if !ok {
			return errNotFound
		}
		var err error
		if page, err = h.page(tx, cfg, s, pageLang(r.URL.Query().Get("lang"), s.ticket.Language, cfg), now); err != nil {
			return err
		}
		if seq, err := strconv.ParseUint(r.URL.Query().Get("recorded"), 10, 64); err == nil {
			page.Recorded, err = recorded(tx, cfg, s.person.ID, seq)
			return err
		}
		return nil
	})
	switch {
	case errors.Is(err, errNotFound):
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusNotFound, Kind: KindNotFound})
		return
	case err != nil:
		h.Log.Error("consent page: render", "err", err)
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusInternalServerError, Kind: KindInternal})
		return
	}
	var b bytes.Buffer
	if err := h.Render(&b, page); err != nil {
		h.Log.Error("consent page: render", "ticket", page.Ticket, "err", err)
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusInternalServerError, Kind: KindInternal})
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// page builds the page of s in lang.
func (h *Handler) page(tx *store.Tx, cfg *config.Config, s *subject, lang string, now time.Time) (*Page, error) {
	other := "en"
	if lang == "en" {
		other = "de"
	}
	p := &Page{Lang: lang, Ticket: s.ticket.Number, Subject: s.ticket.Subject, Name: s.person.Name,
		Controller: cfg.Controller, OtherLang: other, OtherLangURL: "?lang=" + other, FormValidity: FormValidity}
	if rs := s.ticket.Restricted; rs != nil && rs.Reason == store.RestrictedNoConsent && s.ticket.RequesterID == s.person.ID {
		p.Restricted = rs.Since.UTC()
	}
	for i, pu := range offered(cfg, s.ticket) {
		text, hash, err := h.Notice(lang, s.ticket, pu)
		if err != nil {
			return nil, fmt.Errorf("notice of purpose %s: %w", pu.Name, err)
		}
		pp := PagePurpose{Purpose: *pu, ID: "purpose-" + strconv.Itoa(i+1), Own: pu.Name == s.ticket.Purpose, Notice: text, NoticeHash: hash}
		latest, err := tx.LatestConsent(s.person.ID, pu.Name)
		if err != nil {
			return nil, err
		}
		if latest != nil {
			pp.State, pp.Since = latest.Decision, latest.At.UTC()
		}
		if pp.Offer = Offer(pu.LegalBasis, pp.State); pp.Offer != "" {
			pp.Form = issueForm(h.formKey, formFields{TokenID: s.claims.ID, Purpose: pu.Name, Decision: pp.Offer, Lang: lang,
				NoticeHash: hash, Version: tx.ConsentVersion(s.person.ID, pu.Name)}, now)
		}
		p.Purposes = append(p.Purposes, pp)
	}
	return p, nil
}

// recorded returns the person's decision with sequence number seq for the
// confirmation, or nil if the person has none with it.
func recorded(tx *store.Tx, cfg *config.Config, person, seq uint64) (*Recorded, error) {
	hist, err := tx.ConsentHistory(person)
	if err != nil {
		return nil, err
	}
	for _, rec := range hist {
		if rec.Seq != seq {
			continue
		}
		pu := config.Purpose{Name: rec.Purpose}
		if p := cfg.Purpose(rec.Purpose); p != nil {
			pu = *p
		}
		return &Recorded{Purpose: pu, Decision: rec.Decision, At: rec.At.UTC(), Channel: rec.Channel,
			TokenID: rec.TokenID, NoticeHash: rec.NoticeHash}, nil
	}
	return nil, nil
}

// pageLang is the page's language: the one asked for with ?lang=, else the
// ticket's, else the configured default.
func pageLang(asked, ticket string, cfg *config.Config) string {
	for _, l := range []string{asked, ticket, cfg.Server.Language} {
		if l == "de" || l == "en" {
			return l
		}
	}
	return "en"
}

// post records a decision and answers 303 See Other to the page with a
// confirmation, so that a reload shows the page again and sends nothing.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, cfg *config.Config, token string, now time.Time) {
	if err := h.originCheck(cfg).Check(r); err != nil {
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusForbidden, Kind: KindCrossSite})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusBadRequest, Kind: KindBadRequest})
		return
	}
	form := r.PostForm
	lang, purpose, decision := form.Get("lang"), form.Get("purpose"), form.Get("decision")
	var rec *store.ConsentRecord
	err := h.DB.Update(func(tx *store.Tx) error {
		s, ok := h.lookup(tx, token, now)
		if !ok {
			return errNotFound
		}
		pu := offeredPurpose(cfg, s.ticket, purpose)
		if pu == nil || !allowed(pu.LegalBasis, decision) || (lang != "de" && lang != "en") {
			return errBadRequest
		}
		_, hash, err := h.Notice(lang, s.ticket, pu)
		if err != nil {
			return fmt.Errorf("notice of purpose %s: %w", pu.Name, err)
		}
		f := formFields{TokenID: s.claims.ID, Purpose: pu.Name, Decision: decision, Lang: lang, NoticeHash: hash,
			Version: tx.ConsentVersion(s.person.ID, pu.Name)}
		if err := checkForm(h.formKey, form.Get("form"), f, now); err != nil {
			return err
		}
		rec = &store.ConsentRecord{Person: s.person.ID, Purpose: pu.Name, Decision: decision, Channel: ChannelLink,
			TokenID: s.claims.ID, Ticket: s.ticket.Number, NoticeHash: hash}
		return Record(tx, rec, store.ActorCustomer)
	})
	back := path(token) + "?lang=" + pageLang(lang, "", cfg)
	switch {
	case errors.Is(err, errNotFound):
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusNotFound, Kind: KindNotFound})
	case errors.Is(err, errBadRequest):
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusBadRequest, Kind: KindBadRequest})
	case errors.Is(err, errFormMissing), errors.Is(err, errFormInvalid), errors.Is(err, errFormExpired):
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusForbidden, Kind: KindStaleForm, Back: back})
	case err != nil:
		h.Log.Error("consent page: record a decision", "err", err)
		h.fail(w, cfg, r, &ErrorPage{Status: http.StatusInternalServerError, Kind: KindInternal})
	default:
		h.Log.Info("consent recorded", "ticket", rec.Ticket, "person", rec.Person, "purpose", rec.Purpose,
			"decision", rec.Decision, "token", rec.TokenID, "seq", rec.Seq)
		w.Header().Set("Location", back+"&recorded="+strconv.FormatUint(rec.Seq, 10))
		w.WriteHeader(http.StatusSeeOther)
	}
}

// path is the page's URL relative to itself: its last path segment, the
// token, so that it stays right behind a proxy that adds a path prefix.
func path(token string) string { return url.PathEscape(token) }

// fail writes an error page; its language is the one asked for, else the
// configured default, so it says nothing about the ticket.
func (h *Handler) fail(w http.ResponseWriter, cfg *config.Config, r *http.Request, e *ErrorPage) {
	e.Lang = pageLang(r.URL.Query().Get("lang"), "", cfg)
	e.Controller = cfg.Controller
	var b bytes.Buffer
	if err := h.RenderError(&b, e); err != nil {
		h.Log.Error("consent page: render the error page", "kind", e.Kind, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(e.Status)
		fmt.Fprintln(w, http.StatusText(e.Status))
		return
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// originCheck is the cross-origin check of POSTs, built for one public_url.
type originCheck struct {
	publicURL string
	cop       *http.CrossOriginProtection
}

// originCheck rejects a POST whose Sec-Fetch-Site is neither same-origin
// nor none, or, from a browser without it, whose Origin is neither the
// request's host nor public_url's origin.
func (h *Handler) originCheck(cfg *config.Config) *http.CrossOriginProtection {
	if oc := h.origins.Load(); oc != nil && oc.publicURL == cfg.Server.PublicURL {
		return oc.cop
	}
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(cfg.Server.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			h.Log.Warn("consent page: public_url is no origin", "err", err)
		}
	}
	h.origins.Store(&originCheck{publicURL: cfg.Server.PublicURL, cop: cop})
	return cop
}

// evenPayload is what verifyEvenly signs for a malformed token.
var evenPayload [fixedSize2 + 16]byte

// verifyEvenly is Verify doing the same work for every bad token: one too
// malformed to reach the signature check costs an HMAC all the same.
func (s *Signer) verifyEvenly(token string, now time.Time) (Claims, error) {
	c, err := s.Verify(token, now)
	if errors.Is(err, ErrMalformed) {
		s.mac(evenPayload[:])
	}
	return c, err
}

// mailedToEvenly is MailedTo computing the address digest for every token,
// a bad one or one whose person is gone ("") included.
func (s *Signer) mailedToEvenly(c Claims, email string) bool {
	tag := s.addrTag(email)
	return c.Version == version2 && email != "" && hmac.Equal(tag[:], c.addr[:])
}
