package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Retention configures the scheduled purge and what erasure reaches.
type Retention struct {
	// Schedule is when the purge runs: a cron expression of 5 fields or a
	// descriptor such as "@daily", optionally with a "CRON_TZ=Europe/Berlin "
	// prefix; default "0 3 * * *" (03:00 in the server's time zone).
	Schedule string `toml:"schedule"`
	// EraseIMAPCopies makes "subject erase" delete the person's mail from the
	// IMAP folders it was imported from as well; default false: the report
	// lists those copies for the mail administrator.
	EraseIMAPCopies bool `toml:"erase_imap_copies"`
	// Quarantine is how long quarantined mail (kept whole, personal data
	// included) is kept before the purge deletes it; default "30d".
	Quarantine Period `toml:"quarantine"`
}

// Consent configures the consent page and the grace-period check.
type Consent struct {
	// Schedule is when tickets whose consent grace period has ended, or whose
	// consent was withdrawn, get their purpose's without_consent action; default "*/10 * * * *".
	Schedule string `toml:"schedule"`
	// RateLimit is how many requests per minute one client address may send
	// to the consent page; default 30.
	RateLimit int `toml:"rate_limit"`
}

// Hold is a statutory retention category (German commercial and tax law:
// business letters 6 years, invoices 10 years): a held ticket is neither
// changed nor purged until the hold ends.
type Hold struct {
	Name     string `toml:"name"`     // required, unique
	Duration Period `toml:"duration"` // required, e.g. "6y"
	// FromYearEnd counts the duration from the end of the calendar year in
	// which the hold was set (HGB §257(5), AO §147(4)); default true.
	FromYearEnd *bool `toml:"from_year_end"`
	// Queues lists queues whose new tickets get this hold (a routing rule).
	Queues []string `toml:"queues"`
	// SubjectPattern is a regular expression (RE2, case-insensitive) that a new
	// ticket's subject is matched against; a match gets the hold.
	SubjectPattern string `toml:"subject_pattern"`

	Subject *regexp.Regexp `toml:"-"` // SubjectPattern, compiled
}

// YearEnd reports whether the hold counts from the end of the calendar year.
func (h *Hold) YearEnd() bool { return h.FromYearEnd == nil || *h.FromYearEnd }

// Until is when a hold set at since ends.
func (h *Hold) Until(since time.Time) time.Time {
	if h.YearEnd() {
		since = time.Date(since.Year()+1, 1, 1, 0, 0, 0, 0, since.Location())
	}
	return h.Duration.AddTo(since)
}

// Processor is a processor under a data processing agreement (GDPR Art. 28).
type Processor struct {
	Name      string `toml:"name"`      // required
	Role      string `toml:"role"`      // required, what it does, e.g. "mail hosting"
	Agreement string `toml:"agreement"` // required, date of the agreement, YYYY-MM-DD
	Location  string `toml:"location"`  // optional, where it processes, e.g. "Germany"
}

// CronParser is the parser for schedule keys: 5 fields or a descriptor,
// with an optional CRON_TZ= prefix.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron expression. robfig/cron panics on some input
// (a CRON_TZ= prefix with nothing after it); that is returned as an error.
func ParseSchedule(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("invalid schedule %q", spec)
		}
	}()
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	return CronParser.Parse(spec)
}

// Allowed values of the retention keys.
var (
	countedFroms    = []string{"closed", "collected"}
	withoutConsents = []string{"restrict", "erase"}
)

// Defaults of a purpose's record-of-processing categories: what ticketd stores.
var (
	defaultDataCategories = []string{
		"contact data (name, email address)",
		"content of the request and of the replies, attachments",
		"metadata (timestamps, channel, mailbox, message identifiers)",
	}
	defaultSubjectCategories = []string{"customers and other people who write to support"}
)

func holdPath(i int) string      { return index("hold", i+1) }
func processorPath(i int) string { return index("processor", i+1) }

func (d *decoder) retentionDefaults(c *Config) {
	setDefault(d, "retention.schedule", &c.Retention.Schedule, "0 3 * * *")
	setDefault(d, "retention.quarantine", &c.Retention.Quarantine, Period{Days: 30})
	setDefault(d, "consent.schedule", &c.Consent.Schedule, "*/10 * * * *")
	setDefault(d, "consent.rate_limit", &c.Consent.RateLimit, 30)
	for i := range c.Purposes {
		p, u := purposePath(i), &c.Purposes[i]
		setDefault(d, p+".counted_from", &u.CountedFrom, "closed")
		setDefault(d, p+".data_categories", &u.DataCategories, defaultDataCategories)
		setDefault(d, p+".subject_categories", &u.SubjectCategories, defaultSubjectCategories)
		if u.LegalBasis == BasisConsent {
			setDefault(d, p+".grace", &u.Grace, Duration{14 * day})
			setDefault(d, p+".without_consent", &u.WithoutConsent, "restrict")
		}
	}
	for i := range c.Holds {
		setDefault(d, holdPath(i)+".from_year_end", &c.Holds[i].FromYearEnd, new(true))
	}
}

func (d *decoder) retentionValidate(c *Config, queues map[string]string) {
	d.schedule("retention.schedule", c.Retention.Schedule)
	if q := c.Retention.Quarantine; q.Days == 0 && q.Years == 0 {
		d.keyErrorf("retention.quarantine", "must be at least 1d: quarantined mail must stay long enough to be looked at")
	}
	d.schedule("consent.schedule", c.Consent.Schedule)
	d.inRange("consent.rate_limit", c.Consent.RateLimit, 1, 100000)
	for i := range c.Purposes {
		p, u := purposePath(i), &c.Purposes[i]
		d.oneOf(p+".counted_from", u.CountedFrom, countedFroms)
		d.noBlanks(p+".data_categories", u.DataCategories)
		d.noBlanks(p+".subject_categories", u.SubjectCategories)
		if u.LegalBasis == BasisConsent {
			d.atLeast(p+".grace", u.Grace, time.Minute)
			d.oneOf(p+".without_consent", u.WithoutConsent, withoutConsents)
		} else {
			for _, k := range []string{"grace", "without_consent"} {
				if d.has(p + "." + k) {
					d.keyErrorf(p+"."+k, `only for legal_basis = "consent", this purpose's is %q`, u.LegalBasis)
				}
			}
		}
	}
	holds := map[string]string{}
	for i := range c.Holds {
		p, h := holdPath(i), &c.Holds[i]
		d.required(p, "name", h.Name)
		d.unique(holds, p+".name", "hold", h.Name)
		if !d.has(p + ".duration") {
			d.errorf(p+".duration", "missing required key %q%s", "duration", in(p))
		}
		for j, q := range h.Queues {
			if queues[q] == "" {
				d.keyErrorf(index(p+".queues", j+1), "no [[queue]] named %q", q)
			}
		}
		if h.SubjectPattern != "" {
			re, err := regexp.Compile("(?i)" + h.SubjectPattern)
			if err != nil {
				d.keyErrorf(p+".subject_pattern", "invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
			h.Subject = re
		}
	}
	for i := range c.Processors {
		p, r := processorPath(i), &c.Processors[i]
		d.required(p, "name", r.Name, "role", r.Role, "agreement", r.Agreement)
		if r.Agreement != "" {
			if _, err := time.Parse(time.DateOnly, r.Agreement); err != nil {
				d.keyErrorf(p+".agreement", "must be a date such as 2024-05-31, got %q", r.Agreement)
			}
		}
	}
}

func (d *decoder) schedule(path, spec string) {
	if _, err := ParseSchedule(spec); err != nil {
		d.keyErrorf(path, "%s", err)
	}
}

// Hold returns the hold category called name, or nil.
func (c *Config) Hold(name string) *Hold {
	for i := range c.Holds {
		if c.Holds[i].Name == name {
			return &c.Holds[i]
		}
	}
	return nil
}
