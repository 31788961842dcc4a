package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// TestAuditRecordIsWhatItsHashCovers: a stored audit event is exactly the
// bytes its hash is over with the hash filled in as the last field, so the
// chain can be checked from the stored bytes alone (blank the hash, take
// the SHA-256), also for an event whose detail holds characters JSON may
// escape in two ways.
func TestAuditRecordIsWhatItsHashCovers(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	if err := db.Update(func(tx *Tx) error {
		return tx.Audit(AuditEvent{Actor: ActorAdmin, Action: "test.detail", Detail: `rule <a> & "b"`})
	}); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		c := tx.b(bAudit).Cursor()
		k, v := c.Last()
		if k == nil {
			t.Fatal("no audit event stored")
		}
		var e AuditEvent
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatal(err)
		}
		blank := bytes.Replace(v, []byte(`"hash":"`+e.Hash+`"}`), []byte(`"hash":""}`), 1)
		sum := sha256.Sum256(blank)
		if hex.EncodeToString(sum[:]) != e.Hash {
			t.Errorf("stored event %s: its bytes with the hash blanked do not hash to %s", v, e.Hash)
		}
		return nil
	})
	if n, err := db.VerifyAudit(); err != nil || n == 0 {
		t.Errorf("VerifyAudit = %d, %v", n, err)
	}
}
