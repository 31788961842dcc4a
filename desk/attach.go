package desk

import (
	"ticketd/config"
	"ticketd/mail/mime"
	"ticketd/store"
)

// attachmentPolicy is the parser's form of [attachments].
func attachmentPolicy(cfg *config.Config) *mime.AttachmentPolicy {
	a := cfg.Attachments
	return &mime.AttachmentPolicy{MaxSize: int64(a.MaxSize), MaxTotal: int64(a.MaxTotal), Allow: a.Allow, Refuse: a.Refuse}
}

// droppedOf is the note on a stored message of the attachments the policy
// refused in m.
func droppedOf(m *mime.Message) []store.DroppedAttachment {
	var out []store.DroppedAttachment
	for _, d := range m.Dropped {
		out = append(out, store.DroppedAttachment(d))
	}
	return out
}
