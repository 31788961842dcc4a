package config

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
)

// LoadKey reads the key file at path, which must hold exactly size bytes
// and follow the Secret rule of ReadFile (its errors are returned as they
// are, for the caller to say what an exposed key means). When create is set
// and there is no file, it makes one of size random bytes (mode 0600,
// synced); a file another process made meanwhile is read instead. Without
// create, a missing file is os.ErrNotExist.
func LoadKey(path string, size int, create bool) ([]byte, error) {
	key, err := ReadFile(path, Secret, int64(size))
	if errors.Is(err, os.ErrNotExist) && create {
		key = make([]byte, size)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadKey(path, size, false) // another process made it first
		}
		if err != nil {
			return nil, fmt.Errorf("create key: %w", err)
		}
		_, err = f.Write(key)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("write key %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	if len(key) != size { // shorter; a longer one is refused by ReadFile
		return nil, fmt.Errorf("key %s: %d bytes, want %d", path, len(key), size)
	}
	return key, nil
}
