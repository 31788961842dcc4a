package store

import (
	"fmt"
	"testing"
)

// TestSealedWriteAllocs: storing sealed records under a key that is in use
// sets up no AES-GCM cipher per record; the allocations of a write stay
// near those of the plain store (the JSON, the bbolt node, the sealed value).
func TestSealedWriteAllocs(t *testing.T) {
	allocs := func(db *DB) float64 {
		var p *Person
		if err := db.Update(func(tx *Tx) (err error) {
			p, err = tx.EnsurePerson("erika@example.org", "Erika", ActorSystem)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var n float64
		err := db.Update(func(tx *Tx) error {
			i := 0
			n = testing.AllocsPerRun(200, func() {
				i++
				if err := tx.putRec(bPeople, be64(p.ID), &Person{ID: p.ID, Email: fmt.Sprint(i)}, personKeyID(p.ID)); err != nil {
					t.Fatal(err)
				}
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	dir := t.TempDir()
	sealed, err := Open(dir, Options{MasterKeyFile: testMaster(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	plain, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	s, p := allocs(sealed), allocs(plain)
	t.Logf("allocations per record: sealed %.0f, plain %.0f", s, p)
	// Sealing adds the sealed value and the additional data, not a cipher
	// (aes.NewCipher and cipher.NewGCM are several allocations each).
	if s > p+3 {
		t.Errorf("a sealed write allocates %.0f times, a plain one %.0f: more than the sealed value", s, p)
	}
}
