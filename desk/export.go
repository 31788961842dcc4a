package desk

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"ticketd/config"
	"ticketd/store"
)

// The right of access and to data portability (GDPR Art. 15, 20): the
// export of everything ticketd holds about one person.

// ExportFormat names the layout of subject.json; it changes when the layout does.
const ExportFormat = "ticketd-subject-export/3"

// SubjectExport is subject.json, the document of an export.
type SubjectExport struct {
	Format  string         `json:"format"` // ExportFormat
	Person  *store.Person  `json:"person"`
	Tickets []ExportTicket `json:"tickets"`
	// Mentions are the places in other people's records that hold the
	// person's address, each with its passage only: a To or Cc entry, a
	// line of another person's message or of a quarantined or outgoing mail
	// (Art. 15(4): the copy shows the person's data, not the other person's mail).
	Mentions []Mention     `json:"mentions"`
	Purposes []PurposeInfo `json:"purposes"` // the purposes of the tickets and consents, as configured
	// ConsentHistory is every consent decision, by purpose and then in order.
	ConsentHistory []*store.ConsentRecord `json:"consent_history"`
	// ConsentLinks are the consent links issued to the person.
	ConsentLinks []*store.ConsentToken `json:"consent_links"`
	// Outbox is the mail ticketd sent or is to send to the address; each
	// mail itself is the file named by its File.
	Outbox []ExportMail `json:"outbox"`
	// Files are the attachment files in the archive.
	Files []ExportFile `json:"files"`
	// AuditEvents are the events about the person, and those about the
	// tickets they opened that name no other person.
	AuditEvents []*store.AuditEvent `json:"audit_events"`
	// AgentCopies are the mails with the person's data that went to
	// agents (Art. 15(1)(c): the recipients).
	AgentCopies []AgentCopy `json:"agent_copies"`
}

// ExportTicket is one ticket the person wrote to. For a ticket the person
// opened, Ticket is the ticket record as stored; for another person's
// ticket only what concerns the person's part in it (number, queue,
// purpose, status, times, holds), without its subject and requester.
// Messages are the person's own messages and the answers sent to them from
// support; messages that other people wrote into it are Withheld, and what
// of them mentions the person is in SubjectExport.Mentions.
type ExportTicket struct {
	Ticket         *store.Ticket     `json:"ticket"`
	OpenedByPerson bool              `json:"opened_by_person"`
	Messages       []*store.Message  `json:"messages"`
	Withheld       []WithheldMessage `json:"withheld"`
}

// WithheldMessage is a message of another person in a ticket of the
// export: it is named, not shown (Art. 15(4)).
type WithheldMessage struct {
	Message  uint64    `json:"message"`
	StoredAt time.Time `json:"stored_at"`
}

// exportTicket is what the export shows of a ticket person wrote to.
func exportTicket(ft foundTicket, person uint64) ExportTicket {
	et := ExportTicket{Ticket: ft.tk, OpenedByPerson: ft.tk.RequesterID == person, Messages: []*store.Message{}, Withheld: []WithheldMessage{}}
	if !et.OpenedByPerson {
		tk := *ft.tk
		et.Ticket = &store.Ticket{Number: tk.Number, Status: tk.Status, Queue: tk.Queue, Participants: []uint64{person},
			CreatedAt: tk.CreatedAt, UpdatedAt: tk.UpdatedAt, Purpose: tk.Purpose, Language: tk.Language, ClosedAt: tk.ClosedAt,
			Holds: tk.Holds, AnonymizedAt: tk.AnonymizedAt, PurgeAt: tk.PurgeAt}
	}
	for _, m := range ft.msgs {
		// Answers from support to the person are theirs; in another
		// person's ticket an answer goes to that person.
		// Agents' answers and internal notes on the person's own ticket
		// are data about them too.
		if m.PersonID == person || et.OpenedByPerson && (m.Direction == store.DirectionOut || m.Direction == store.DirectionNote) {
			et.Messages = append(et.Messages, m)
			continue
		}
		et.Withheld = append(et.Withheld, WithheldMessage{Message: m.ID, StoredAt: m.Origin.StoredAt})
	}
	return et
}

// ExportMail is one outgoing mail to the person.
type ExportMail struct {
	OutboxView
	File string `json:"file"` // outbox/<id>.eml: the mail as it was (or is to be) sent
}

// ExportFile is one attachment file in the archive.
type ExportFile struct {
	Path        string `json:"path"` // attachments/<sha256>/<filename>
	SHA256      string `json:"sha256"`
	Filename    string `json:"filename,omitempty"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	// Missing is set when the stored content could not be found; the file is then not in the archive.
	Missing bool `json:"missing,omitempty"`
}

// PurposeInfo is what a person is told about a purpose (Art. 15(1)(a)-(d)).
type PurposeInfo struct {
	Name               string   `json:"name"`
	Description        Text     `json:"description"`
	LegalBasis         string   `json:"legal_basis"`
	LegitimateInterest *Text    `json:"legitimate_interest,omitempty"`
	Recipients         []string `json:"recipients"`
	Transfers          []string `json:"transfers"`
	Retention          string   `json:"retention"`
	CountedFrom        string   `json:"counted_from"`
	OnExpiry           string   `json:"on_expiry"`
}

// Text is a text in German and English.
type Text struct {
	DE string `json:"de"`
	EN string `json:"en"`
}

func text(t config.Text) Text { return Text{DE: t.DE, EN: t.EN} }

func purposeInfo(p *config.Purpose) PurposeInfo {
	info := PurposeInfo{Name: p.Name, Description: text(p.Description), LegalBasis: string(p.LegalBasis),
		Recipients: nonNil(p.Recipients), Transfers: nonNil(p.Transfers), Retention: p.Retention.String(),
		CountedFrom: p.CountedFrom, OnExpiry: onExpiry(p)}
	if p.LegitimateInterest != (config.Text{}) {
		li := text(p.LegitimateInterest)
		info.LegitimateInterest = &li
	}
	return info
}

func onExpiry(p *config.Purpose) string {
	if p.OnExpiry == "" {
		return "anonymize"
	}
	return p.OnExpiry
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Export writes everything ticketd holds about the person with address email
// to w as a ZIP archive (GDPR Art. 15, and Art. 20 in a machine-readable
// format): subject.json (SubjectExport), attachments/<sha256>/<filename> with
// each attachment's content, and outbox/<id>.eml with each mail sent to the
// person. It records the audit event "subject.exported".
func (d *Desk) Export(email string, w io.Writer) error {
	db := d.DB
	doc, mails, err := collectExport(db, d.Config(), email)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *store.Tx) error {
		return tx.Audit(store.SubjectExported(doc.Person.ID,
			fmt.Sprintf("tickets %d mentions %d files %d outbox %d", len(doc.Tickets), len(doc.Mentions), len(doc.Files), len(doc.Outbox)), actorAdmin))
	})
	if err != nil {
		return err
	}
	return writeExport(db, doc, mails, w)
}

// collectExport finds the person's data (find, as the erasure does) and
// reads the rest of the export's records in one read transaction; the
// contents of blobs are read afterwards, each on its own.
func collectExport(db *store.DB, cfg *config.Config, email string) (*SubjectExport, map[uint64][]byte, error) {
	data, err := find(db, email)
	if err != nil {
		return nil, nil, err
	}
	p := data.person
	doc := &SubjectExport{Format: ExportFormat, Person: p, Mentions: data.mentions, AgentCopies: agentCopies(data)}
	mails := map[uint64][]byte{}
	opened := map[uint64]bool{}
	purposes := map[string]bool{}
	tokens := map[string]bool{}
	for _, ft := range data.tickets {
		et := exportTicket(ft, p.ID)
		doc.Tickets = append(doc.Tickets, et)
		purposes[ft.tk.Purpose] = true
		if et.OpenedByPerson {
			opened[ft.tk.Number] = true
			if ft.tk.Ack != nil && ft.tk.Ack.ConsentID != "" {
				tokens[ft.tk.Ack.ConsentID] = true
			}
		}
	}
	for _, fo := range data.outboxOthers {
		lines, err := rawMentions(bytes.NewReader(fo.it.Raw), p.Email)
		if err != nil {
			return nil, nil, err
		}
		if len(lines) == 0 {
			lines = []string{""} // quoted only in an encoded form: the ticket's mentions show what
		}
		for _, l := range lines {
			doc.Mentions = append(doc.Mentions, Mention{Ticket: fo.it.Ticket, Outbox: fo.it.ID, MessageID: fo.it.MessageID, Where: "raw", Passage: l})
		}
	}
	for _, q := range data.quarantine {
		doc.Mentions = append(doc.Mentions, data.quarantineMentions[q.ID]...)
	}
	for _, it := range data.outbox {
		doc.Outbox = append(doc.Outbox, ExportMail{OutboxView: outboxView(it), File: fmt.Sprintf("outbox/%d.eml", it.ID)})
		mails[it.ID] = it.Raw
	}
	err = db.View(func(tx *store.Tx) error {
		var err error
		if doc.ConsentHistory, err = tx.ConsentHistory(p.ID); err != nil {
			return err
		}
		for _, rec := range doc.ConsentHistory {
			purposes[rec.Purpose] = true
			if rec.TokenID != "" {
				tokens[rec.TokenID] = true
			}
		}
		for _, id := range slices.Sorted(maps.Keys(tokens)) {
			ct, err := tx.ConsentTokenRecord(id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if ct.Person == p.ID {
				doc.ConsentLinks = append(doc.ConsentLinks, ct)
			}
		}
		// The events about the person, and those about their own tickets
		// that name no other person, by the store's audit index.
		doc.AuditEvents, err = tx.AuditAbout(p.ID, slices.Sorted(maps.Keys(opened)))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(purposes)) {
		if pc := cfg.Purpose(name); pc != nil {
			doc.Purposes = append(doc.Purposes, purposeInfo(pc))
		}
	}
	doc.Files = exportFiles(doc.Tickets)
	doc.Tickets, doc.Purposes, doc.Mentions = nonNil(doc.Tickets), nonNil(doc.Purposes), nonNil(doc.Mentions)
	doc.ConsentHistory, doc.ConsentLinks = nonNil(doc.ConsentHistory), nonNil(doc.ConsentLinks)
	doc.Outbox, doc.AuditEvents = nonNil(doc.Outbox), nonNil(doc.AuditEvents)
	return doc, mails, nil
}

// exportFiles lists one file per distinct attachment (content and name), by path.
func exportFiles(tickets []ExportTicket) []ExportFile {
	files := map[string]ExportFile{}
	for _, t := range tickets {
		for _, m := range t.Messages {
			for _, a := range m.Blobs() {
				p := "attachments/" + a.SHA256 + "/" + safeFilename(a.Filename)
				files[p] = ExportFile{Path: p, SHA256: a.SHA256, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size}
			}
		}
	}
	out := []ExportFile{}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		out = append(out, files[p])
	}
	return out
}

// safeFilename is name as one path element of an archive: no directories,
// no control characters, never empty, "." or "..".
func safeFilename(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" || strings.Trim(name, ".") == "" {
		return "attachment"
	}
	return name
}

func writeExport(db *store.DB, doc *SubjectExport, mails map[uint64][]byte, w io.Writer) error {
	zw := zip.NewWriter(w)
	modified := db.Now()
	create := func(name string) (io.Writer, error) {
		return zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: modified})
	}
	// The attachments first: one whose content is lost is marked in subject.json.
	var files []func() error
	for i := range doc.Files {
		f := &doc.Files[i]
		r, err := db.OpenBlob(f.SHA256)
		if errors.Is(err, store.ErrNotFound) {
			f.Missing = true
			continue
		}
		if err != nil {
			return err
		}
		r.Close()
		files = append(files, func() error {
			r, err := db.OpenBlob(f.SHA256)
			if err != nil {
				return err
			}
			defer r.Close()
			fw, err := create(f.Path)
			if err != nil {
				return err
			}
			_, err = io.Copy(fw, r)
			return err
		})
	}
	fw, err := create("subject.json")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(fw)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, f := range files {
		if err := f(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	for _, m := range doc.Outbox {
		fw, err := create(m.File)
		if err != nil {
			return err
		}
		if _, err := fw.Write(mails[m.ID]); err != nil {
			return err
		}
	}
	return zw.Close()
}
