package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Actor is who caused an audit event (AuditEvent.Actor), or who set a hold
// (Hold.By). Its value is stored in the audit trail and hashed with it.
type Actor string

// Actors.
const (
	ActorSystem    Actor = "system"    // ticketd itself: ingest, acknowledgements, IMAP sync, the outbox
	ActorAdmin     Actor = "admin"     // an administrator, through a ticketd command
	ActorCustomer  Actor = "customer"  // the data subject, on the consent page
	ActorScheduler Actor = "scheduler" // the retention and consent runs of the daemon's scheduler
	ActorRule      Actor = "rule"      // a [[hold]] rule that picked a new ticket (Hold.By only)
)

// ActorAgent is the actor of an agent, named by id, never by address.
func ActorAgent(id uint64) Actor { return Actor("agent:" + strconv.FormatUint(id, 10)) }

// Action names the kind of an audit event (AuditEvent.Action). The values
// are stored in the audit trail and hashed with it: they never change.
type Action string

// Actions, one per kind of audit event. Each kind is made by the
// constructor of its name below (unexported where only the store's own
// writes record it); the outcome of an outbox attempt and a consent
// decision take their action from the item's status or the decision, so
// that the two cannot disagree.
const (
	ActionPersonCreated    Action = "person.created"
	ActionPersonUpdated    Action = "person.updated" // a name filled in where there was none
	ActionPersonRectified  Action = "person.rectified"
	ActionPersonOffboarded Action = "person.offboarded"
	ActionPersonDeleted    Action = "person.deleted"

	ActionTicketCreated           Action = "ticket.created"
	ActionTicketAckQueued         Action = "ticket.ack_queued"
	ActionTicketAckSuppressed     Action = "ticket.ack_suppressed"
	ActionTicketClosed            Action = "ticket.closed"
	ActionTicketReopened          Action = "ticket.reopened"
	ActionTicketHoldAdded         Action = "ticket.hold_added"
	ActionTicketHoldReleased      Action = "ticket.hold_released"
	ActionTicketRestricted        Action = "ticket.restricted"
	ActionTicketRestrictionLifted Action = "ticket.restriction_lifted"
	ActionTicketObjected          Action = "ticket.objected"
	ActionTicketParticipantErased Action = "ticket.participant_erased"
	ActionTicketRedacted          Action = "ticket.redacted"
	ActionTicketAnonymized        Action = "ticket.anonymized"
	ActionTicketDeleted           Action = "ticket.deleted"

	ActionTicketAssigned       Action = "ticket.assigned"
	ActionTicketMoved          Action = "ticket.moved"
	ActionTicketPurposeChanged Action = "ticket.purpose_changed"
	ActionTicketAnswered       Action = "ticket.answered"
	ActionTicketShown          Action = "ticket.shown"
	ActionTicketNotified       Action = "ticket.notified"
	ActionTicketReminded       Action = "ticket.reminded"
	ActionTicketEscalated      Action = "ticket.escalated"
	ActionAgentRefused         Action = "agent.refused"
	ActionAgentHinted          Action = "agent.hinted"

	ActionMessageAdded     Action = "message.added"
	ActionMessageRectified Action = "message.rectified"
	ActionMessageRedacted  Action = "message.redacted"
	ActionMessageDeleted   Action = "message.deleted"

	ActionQuarantineAdded   Action = "quarantine.added"
	ActionQuarantineUpdated Action = "quarantine.updated"
	ActionQuarantineRetried Action = "quarantine.retried"
	ActionQuarantineDeleted Action = "quarantine.deleted"

	ActionMailboxCheckpoint Action = "mailbox.checkpoint"

	ActionOutboxQueued  Action = "outbox.queued"
	ActionOutboxRetry   Action = "outbox.retry"
	ActionOutboxSent    Action = "outbox.sent"
	ActionOutboxFailed  Action = "outbox.failed"
	ActionOutboxDeleted Action = "outbox.deleted"

	ActionConsentLinkIssued Action = "consent.link_issued"
	ActionConsentGranted    Action = "consent.granted"
	ActionConsentWithdrawn  Action = "consent.withdrawn"
	ActionConsentObjected   Action = "consent.objected"

	ActionRetentionReplanned Action = "retention.replanned"
	ActionSubjectExported    Action = "subject.exported"
	ActionSubjectErased      Action = "subject.erased"
	ActionStoreRestored      Action = "store.restored"
)

// The constructors below are the one place each kind of event is given its
// fields. An event holds identifiers and fixed words only (GDPR Art.
// 5(1)(c)); a why or detail argument is such words, never a name, an
// address or text of a mail.

func personCreated(person uint64, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionPersonCreated, Person: person}
}

func personUpdated(person uint64, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionPersonUpdated, Person: person, Detail: "name"}
}

// PersonRectified is the event of UpdatePerson for a corrected name or
// address (Art. 16).
func PersonRectified(person uint64, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionPersonRectified, Person: person}
}

// PersonOffboarded is the event of UpdatePerson for a customer who left.
func PersonOffboarded(person uint64, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionPersonOffboarded, Person: person}
}

func personDeleted(person uint64, actor Actor, why string) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionPersonDeleted, Person: person, Detail: why}
}

func ticketCreated(tk *Ticket, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionTicketCreated, Ticket: tk.Number, Person: tk.RequesterID,
		Mailbox: tk.Origin.Mailbox, Channel: tk.Origin.Channel}
}

// ticketEvent is an event of UpdateTicket that names the ticket only.
func ticketEvent(action Action, ticket uint64, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: action, Ticket: ticket}
}

// TicketAckQueued is the event of UpdateTicket for an acknowledgement put in the outbox.
func TicketAckQueued(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketAckQueued, ticket, actor)
}

// TicketAckSuppressed is the event of UpdateTicket for an acknowledgement not sent (Ack.Reason says why).
func TicketAckSuppressed(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketAckSuppressed, ticket, actor)
}

// TicketClosed is the event of UpdateTicket for a ticket closed.
func TicketClosed(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketClosed, ticket, actor)
}

// TicketReopened is the event of UpdateTicket for a closed ticket opened again.
func TicketReopened(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketReopened, ticket, actor)
}

// TicketHoldAdded is the event of UpdateTicket for a hold of category put
// on the ticket until the day of until.
func TicketHoldAdded(ticket uint64, category string, until time.Time, actor Actor) AuditEvent {
	e := ticketEvent(ActionTicketHoldAdded, ticket, actor)
	e.Detail = "category " + category + " until " + until.Format(time.DateOnly)
	return e
}

// TicketHoldReleased is the event of UpdateTicket for the holds of category ended now.
func TicketHoldReleased(ticket uint64, category string, actor Actor) AuditEvent {
	e := ticketEvent(ActionTicketHoldReleased, ticket, actor)
	e.Detail = "category " + category
	return e
}

// TicketRestricted is the event of UpdateTicket for processing restricted (Art. 18).
func TicketRestricted(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketRestricted, ticket, actor)
}

// TicketRestrictionLifted is the event of UpdateTicket for a restriction lifted by a grant.
func TicketRestrictionLifted(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketRestrictionLifted, ticket, actor)
}

// TicketObjected is the event of UpdateTicket for an objection recorded on the ticket (Art. 21).
func TicketObjected(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketObjected, ticket, actor)
}

// TicketParticipantErased is the event of UpdateTicket for an erased person
// taken off the ticket's participants.
func TicketParticipantErased(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketParticipantErased, ticket, actor)
}

// TicketRedacted is the event of UpdateTicket for an erased person's data
// removed from a ticket that stays (its subject).
func TicketRedacted(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketRedacted, ticket, actor)
}

// TicketAssigned is the event of UpdateTicket for a ticket assigned to
// agent number agent (0: back to its queue).
func TicketAssigned(ticket, agent uint64, actor Actor) AuditEvent {
	e := ticketEvent(ActionTicketAssigned, ticket, actor)
	e.Detail = "agent " + strconv.FormatUint(agent, 10)
	if agent == 0 {
		e.Detail = "queue"
	}
	return e
}

// TicketMoved is the event of UpdateTicket for a ticket moved between
// queues (configured names).
func TicketMoved(ticket uint64, from, to string, actor Actor) AuditEvent {
	e := ticketEvent(ActionTicketMoved, ticket, actor)
	e.Detail = "queue " + from + " to " + to
	return e
}

// TicketPurposeChanged is the event of UpdateTicket for a ticket's purpose
// changed (configured names).
func TicketPurposeChanged(ticket uint64, from, to string, actor Actor) AuditEvent {
	e := ticketEvent(ActionTicketPurposeChanged, ticket, actor)
	e.Detail = "purpose " + from + " to " + to
	return e
}

// TicketAnswered is the event of UpdateTicket for an agent's answer queued
// for the customer (the message and the outbox item have their own).
func TicketAnswered(ticket, message uint64, actor Actor) AuditEvent {
	e := ticketEvent(ActionTicketAnswered, ticket, actor)
	e.Message = message
	return e
}

// TicketShown is the event of the full ticket mailed to an agent (#show; Tx.Audit).
func TicketShown(ticket uint64, actor Actor) AuditEvent {
	return ticketEvent(ActionTicketShown, ticket, actor)
}

// TicketNotified is the event of UpdateTicket for mail about the ticket
// queued for agents; kind is one of the Notify kinds, agents their numbers.
func TicketNotified(ticket uint64, kind string, agents []uint64, actor Actor) AuditEvent {
	e := ticketEvent(ActionTicketNotified, ticket, actor)
	if kind == NotifyReminder {
		e.Action = ActionTicketReminded
	} else if kind == NotifyEscalation {
		e.Action = ActionTicketEscalated
	}
	e.Detail = kind + " to agents" + agentList(agents)
	return e
}

func agentList(ids []uint64) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(" ")
		b.WriteString(strconv.FormatUint(id, 10))
	}
	return b.String()
}

// AgentRefused is the event of an agent's mail, or one that claims to be,
// refused: check names what failed (fixed words; Tx.Audit). ticket and
// agent are what its reply address named, 0 when unknown. actor is the
// agent when its reply was verified (a refused command, a restricted
// ticket), ticketd when the mail failed the check that would make it the
// agent's.
func AgentRefused(ticket, agent, message uint64, check string, actor Actor) AuditEvent {
	detail := check
	if agent != 0 {
		detail += ", reply address of agent " + strconv.FormatUint(agent, 10)
	}
	return AuditEvent{Actor: actor, Action: ActionAgentRefused, Ticket: ticket, Message: message, Detail: detail}
}

// AgentHinted is the event of a mail from an agent's address without a
// reply address, answered with a hint instead of a ticket (Tx.Audit).
func AgentHinted(agent uint64, mailbox string) AuditEvent {
	return AuditEvent{Actor: ActorAgent(agent), Action: ActionAgentHinted, Mailbox: mailbox}
}

func ticketAnonymized(ticket uint64, actor Actor, why string) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionTicketAnonymized, Ticket: ticket, Detail: why}
}

func ticketDeleted(ticket uint64, actor Actor, why string) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionTicketDeleted, Ticket: ticket, Detail: why}
}

func messageAdded(m *Message, actor Actor) AuditEvent {
	detail := m.ThreadedBy
	if len(m.Dropped) > 0 {
		// Types and reasons only: a file name may be personal data.
		var reasons []string
		for _, d := range m.Dropped {
			reasons = append(reasons, d.Reason)
		}
		detail = strings.TrimPrefix(fmt.Sprintf("%s; dropped %d attachment(s): %s", detail, len(m.Dropped), strings.Join(reasons, ", ")), "; ")
	}
	return AuditEvent{Actor: actor, Action: ActionMessageAdded, Ticket: m.Ticket, Message: m.ID,
		Person: m.PersonID, Mailbox: m.Origin.Mailbox, Channel: m.Origin.Channel, Detail: detail}
}

// MessageRectified is the event of PutMessage for a message whose sender was corrected (Art. 16).
func MessageRectified(m *Message, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionMessageRectified, Ticket: m.Ticket, Message: m.ID}
}

// MessageRedacted is the event of PutMessage for an erased person's data
// removed from a message that stays.
func MessageRedacted(m *Message, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionMessageRedacted, Ticket: m.Ticket, Message: m.ID}
}

func messageDeleted(m *Message, actor Actor, why string) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionMessageDeleted, Ticket: m.Ticket, Message: m.ID, Person: m.PersonID, Detail: why}
}

func quarantineAdded(q *Quarantine, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionQuarantineAdded, Quarantine: q.ID,
		Mailbox: q.Origin.Mailbox, Channel: q.Origin.Channel, Detail: fmt.Sprintf("uid %d", q.Origin.UID)}
}

func quarantineUpdated(q *Quarantine, actor Actor, detail string) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionQuarantineUpdated, Quarantine: q.ID, Mailbox: q.Origin.Mailbox, Detail: detail}
}

// QuarantineRetried is the event of a quarantined mail parsed again that
// stays quarantined for the same reason (no store write of its own: Tx.Audit).
func QuarantineRetried(q *Quarantine, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionQuarantineRetried, Quarantine: q.ID,
		Mailbox: q.Origin.Mailbox, Detail: "still quarantined, same reason"}
}

func quarantineDeleted(q *Quarantine, actor Actor, why string) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionQuarantineDeleted, Quarantine: q.ID, Detail: why}
}

func mailboxCheckpoint(c *Checkpoint, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionMailboxCheckpoint, Mailbox: c.Mailbox,
		Detail: fmt.Sprintf("uidvalidity %d last uid %d pending %d", c.UIDValidity, c.LastUID, len(c.Pending))}
}

func outboxQueued(it *OutboxItem, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionOutboxQueued, Ticket: it.Ticket, Detail: fmt.Sprintf("outbox %d %s", it.ID, it.Kind)}
}

// outboxActions are the events of UpdateOutbox, by the item's new status.
var outboxActions = map[string]Action{OutboxPending: ActionOutboxRetry, OutboxSent: ActionOutboxSent, OutboxFailed: ActionOutboxFailed}

// outboxAttempt is the event of UpdateOutbox: the outcome of an attempt, by
// the item's new status.
func outboxAttempt(it *OutboxItem, actor Actor) (AuditEvent, error) {
	action, ok := outboxActions[it.Status]
	if !ok {
		return AuditEvent{}, fmt.Errorf("outbox item %d: unknown status %q", it.ID, it.Status)
	}
	return AuditEvent{Actor: actor, Action: action, Ticket: it.Ticket, Detail: fmt.Sprintf("outbox %d attempt %d", it.ID, it.Attempts)}, nil
}

func outboxDeleted(id uint64, actor Actor, why string) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionOutboxDeleted, Detail: fmt.Sprintf("item %d %s", id, why)}
}

func consentLinkIssued(ct *ConsentToken, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionConsentLinkIssued, Ticket: ct.Ticket, Person: ct.Person,
		Detail: "token " + ct.ID + " purpose " + ct.Purpose}
}

// consentActions are the events of RecordConsent, by decision.
var consentActions = map[string]Action{ConsentGranted: ActionConsentGranted, ConsentWithdrawn: ActionConsentWithdrawn,
	ConsentObjected: ActionConsentObjected}

// consentDecided is the event of RecordConsent, by the decision recorded.
func consentDecided(rec *ConsentRecord, actor Actor) (AuditEvent, error) {
	action, ok := consentActions[rec.Decision]
	if !ok {
		return AuditEvent{}, fmt.Errorf("consent of person %d: unknown decision %q", rec.Person, rec.Decision)
	}
	detail := "purpose " + rec.Purpose + " channel " + rec.Channel
	if rec.TokenID != "" {
		detail += " token " + rec.TokenID
	}
	return AuditEvent{Actor: actor, Action: action, Person: rec.Person, Ticket: rec.Ticket, Detail: detail}, nil
}

// RetentionReplanned is the event of every ticket planned anew with the
// retention rules of the configuration with fingerprint (Tx.Audit).
func RetentionReplanned(fingerprint string, tickets int, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionRetentionReplanned,
		Detail: fmt.Sprintf("configuration %s, %d tickets planned anew", fingerprint, tickets)}
}

// SubjectExported is the event of a person's data exported (Art. 15, 20;
// Tx.Audit); detail counts what the export held.
func SubjectExported(person uint64, detail string, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionSubjectExported, Person: person, Detail: detail}
}

// SubjectErased is the event of a person's data erased (Art. 17; Tx.Audit);
// detail counts what was erased and kept.
func SubjectErased(person uint64, detail string, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionSubjectErased, Person: person, Detail: detail}
}

func storeRestored(info *RestoreInfo, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionStoreRestored,
		Detail: fmt.Sprintf("format %s events %d blobs %d", info.Format, info.AuditEvents, info.Blobs)}
}
