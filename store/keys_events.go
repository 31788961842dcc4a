package store

import "fmt"

// Audit events of the key commands (ticketd keys rotate, ticketd keys
// backup). Their action values are hashed with the audit trail: they never
// change. The master key's id names the key, it reveals nothing of it.
const (
	ActionKeysRotated  Action = "keys.rotated"
	ActionKeysBackedUp Action = "keys.backed_up"
)

// KeysRotated is the event of every key re-wrapped under a new master key
// (Tx.Audit).
func KeysRotated(info RotateInfo, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionKeysRotated,
		Detail: fmt.Sprintf("%d keys re-wrapped, master key %s", info.Keys, info.MasterID)}
}

// KeysBackedUp is the event of a key snapshot written (Tx.Audit); pruned is
// how many expired snapshots were deleted with it.
func KeysBackedUp(info KeyBackupInfo, pruned int, actor Actor) AuditEvent {
	return AuditEvent{Actor: actor, Action: ActionKeysBackedUp,
		Detail: fmt.Sprintf("%d keys, master key %s, %d expired snapshots deleted", info.Keys, info.MasterID, pruned)}
}
