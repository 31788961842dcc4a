package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"ticketd/mail/mime"
	"ticketd/store"
)

// The demo's agent: it answers the first ticket from its mail client, as
// an agent would, by replying to the notification (a quoted history and a
// signature included), then closes the ticket with a reply that is only
// "#close".

// demoWait bounds each wait of the agent's part.
const demoWait = 10 * time.Second

func (w *demoWatcher) playAgent(ctx context.Context, smtpAddr string) error {
	if len(w.notified) == 0 {
		return errors.New("the agent got no notification")
	}
	n := w.notified[0]
	tag := demoTicketTag.FindStringSubmatch(n.Subject)
	if tag == nil {
		return fmt.Errorf("the notification %q names no ticket", n.Subject)
	}
	ticket, _ := strconv.ParseUint(tag[1], 10, 64)
	replyTo := n.ReplyTo[0].Email
	quote := "Am " + n.Date.Format("02.01.2006 um 15:04") + " schrieb " + n.From.Email + ":\n"
	for _, line := range strings.Split(strings.TrimRight(n.Text, "\n"), "\n") {
		quote += "> " + line + "\n"
	}
	answer := "Guten Tag Herr Müller,\n\nbitte schalten Sie den Drucker aus und nach einer Minute wieder ein;\n" +
		"Fehler 42 ist dann behoben.\n\n-- \nAnna Agent\nBeispiel GmbH, Support\n\n" + quote
	fmt.Fprintf(w.out, "\nThe demo plays the agent %s: it replies to %s\n      with its answer, its signature and the quoted notification (%d quoted lines)\n",
		demoAgent, replyTo, strings.Count(quote, "\n> ")+1)
	if err := demoAgentSend(smtpAddr, n, replyTo, answer); err != nil {
		return err
	}
	if !w.until(ctx, func() bool { return len(w.answers) > 0 }) {
		return errors.New("the customer received no answer")
	}
	if got := w.answers[0].Text; !strings.Contains(got, "> ") && !strings.Contains(got, "Anna Agent") {
		fmt.Fprintf(w.out, "      the quoted history and the signature are gone\n")
	}

	fmt.Fprintf(w.out, "\nThe agent closes the ticket: a reply to %s that is only \"#close\"\n", replyTo)
	if err := demoAgentSend(smtpAddr, n, replyTo, "#close\n\n"+quote); err != nil {
		return err
	}
	closed := func() bool {
		d, err := w.desk.ShowTicket(ticket)
		return err == nil && d.Status == store.StatusClosed
	}
	if !w.until(ctx, closed) {
		return fmt.Errorf("ticket #%d was not closed", ticket)
	}
	fmt.Fprintf(w.out, "  ticket #%d is closed\n", ticket)
	return nil
}

// until prints what happens until cond holds (true) or demoWait passed.
func (w *demoWatcher) until(ctx context.Context, cond func() bool) bool {
	deadline := time.Now().Add(demoWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if cond() {
			w.print() // what made it hold
			return true
		}
		w.print()
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// demoAgentSend sends text from the demo's agent to replyTo, threaded to
// the notification n, as a mail client replies.
func demoAgentSend(smtpAddr string, n *mime.Message, replyTo, text string) error {
	var h gomail.Header
	h.SetAddressList("From", []*gomail.Address{{Name: "Anna Agent", Address: demoAgent}})
	h.SetAddressList("To", []*gomail.Address{{Address: replyTo}})
	subject := n.Subject
	if !strings.HasPrefix(strings.ToLower(subject), "re:") {
		subject = "Re: " + subject
	}
	h.SetSubject(subject)
	h.SetDate(time.Now())
	if err := h.GenerateMessageID(); err != nil {
		return err
	}
	if n.MessageID != "" {
		h.SetMsgIDList("In-Reply-To", []string{n.MessageID})
		h.SetMsgIDList("References", append(append([]string{}, n.References...), n.MessageID))
	}
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	mw, err := gomail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return err
	}
	mw.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	if err := mw.Close(); err != nil {
		return err
	}
	if err := smtp.SendMail(smtpAddr, nil, demoAgent, []string{replyTo}, buf.Bytes()); err != nil {
		return fmt.Errorf("the agent's reply: %w", err)
	}
	return nil
}
