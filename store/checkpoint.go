package store

// Checkpoint returns the sync state of a mailbox.
func (t *Tx) Checkpoint(mailbox string) (Checkpoint, bool, error) {
	var c Checkpoint
	err := getJSON(t.b(bSync), []byte(mailbox), &c)
	if err == ErrNotFound {
		return Checkpoint{Mailbox: mailbox}, false, nil
	}
	return c, err == nil, err
}

// SetCheckpoint stores the sync state of a mailbox.
func (t *Tx) SetCheckpoint(c Checkpoint, actor Actor) error {
	c.UpdatedAt = t.now
	if err := putJSON(t.b(bSync), []byte(c.Mailbox), &c); err != nil {
		return err
	}
	return t.audit(mailboxCheckpoint(&c, actor))
}
