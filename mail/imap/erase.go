package imap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/textproto"

	"ticketd/config"
	"ticketd/mail/oauth"
)

// searchChunk is how many Message-IDs one UID SEARCH asks for (OR-ed).
const searchChunk = 20

// DeleteCopies deletes from box's IMAP server the mail whose Message-ID is
// one of messageIDs (without angle brackets), in each of folders that exists;
// a folder the server does not have is skipped. It is what an erasure
// (GDPR Art. 17) does to the copies ticketd imported from.
//
// In each folder it runs UID SEARCH HEADER Message-ID, checks each hit's
// Message-ID header for an exact match (SEARCH matches substrings), sets
// \Deleted on the matches and expunges them: with UID EXPUNGE when the server
// offers UIDPLUS, else with EXPUNGE, which also removes any other mail
// flagged \Deleted in that folder. It returns how many mails were deleted.
func DeleteCopies(ctx context.Context, box *config.Mailbox, folders []string, messageIDs []string) (int, error) {
	want := map[string]bool{}
	for _, id := range messageIDs {
		if id = normalizeMsgID(id); id != "" {
			want[id] = true
		}
	}
	if len(want) == 0 {
		return 0, nil
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var tokens *oauth.Source
	if box.Auth == config.AuthOAuth2 {
		tokens = oauth.NewSource(&box.OAuth, box.Name)
	}
	cn, err := dial(box, tokens)
	if err != nil {
		return 0, err
	}
	defer cn.kill()
	stop := context.AfterFunc(ctx, cn.kill)
	defer stop()

	deleted := 0
	seen := map[string]bool{}
	for _, folder := range folders {
		if folder == "" || seen[folder] {
			continue
		}
		seen[folder] = true
		n, err := deleteInFolder(cn, folder, ids, want)
		deleted += n
		if ctx.Err() != nil {
			return deleted, ctx.Err()
		}
		if err != nil {
			return deleted, fmt.Errorf("folder %s: %w", folder, err)
		}
	}
	cn.wait("logout", func() error { return cn.c.Logout().Wait() })
	return deleted, nil
}

// deleteInFolder deletes the mails with the wanted Message-IDs from one folder.
func deleteInFolder(cn *conn, folder string, ids []string, want map[string]bool) (int, error) {
	err := cn.wait("select", func() error { _, err := cn.c.Select(folder, nil).Wait(); return err })
	var imapErr *imap.Error
	if errors.As(err, &imapErr) {
		return 0, nil // no such folder (or not selectable): nothing of ours is in it
	}
	if err != nil {
		return 0, err
	}
	var hits imap.UIDSet
	for chunk := range slices.Chunk(ids, searchChunk) {
		var found []imap.UID
		err := cn.wait("uid search", func() error {
			data, err := cn.c.UIDSearch(headerAny("Message-ID", chunk), nil).Wait()
			if err == nil {
				found = data.AllUIDs()
			}
			return err
		})
		if err != nil {
			return 0, err
		}
		if len(found) == 0 {
			continue
		}
		exact, err := exactMatches(cn, found, want)
		if err != nil {
			return 0, err
		}
		for _, uid := range exact {
			hits.AddNum(uid)
		}
	}
	uids, _ := hits.Nums()
	if len(uids) == 0 {
		return 0, nil
	}
	if err := cn.wait("store \\Deleted", func() error {
		return cn.c.Store(hits, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	}); err != nil {
		return 0, err
	}
	if err := cn.wait("expunge", func() error {
		if cn.caps.Has(imap.CapUIDPlus) {
			return cn.c.UIDExpunge(hits).Close()
		}
		return cn.c.Expunge().Close()
	}); err != nil {
		return 0, err
	}
	return len(uids), nil
}

// headerAny matches mail whose header key contains any of values.
func headerAny(key string, values []string) *imap.SearchCriteria {
	c := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: key, Value: values[0]}}}
	if len(values) == 1 {
		return c
	}
	return &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{*c, *headerAny(key, values[1:])}}}
}

// exactMatches fetches the Message-ID header of each uid and returns the
// uids whose Message-ID is wanted.
func exactMatches(cn *conn, uids []imap.UID, want map[string]bool) ([]imap.UID, error) {
	var out []imap.UID
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}
	err := cn.wait("fetch Message-ID", func() error {
		msgs, err := cn.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if want[normalizeMsgID(headerMessageID(m))] {
				out = append(out, m.UID)
			}
		}
		return nil
	})
	return out, err
}

// headerMessageID reads the Message-ID from a fetched header section.
func headerMessageID(m *imapclient.FetchMessageBuffer) string {
	for _, b := range m.BodySection {
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(append(b.Bytes, '\r', '\n'))))
		if err != nil {
			continue
		}
		if v := h.Get("Message-Id"); v != "" {
			return v
		}
	}
	return ""
}

// normalizeMsgID is a Message-ID without surrounding space and angle brackets.
func normalizeMsgID(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimPrefix(id, "<")
	id = strings.TrimSuffix(id, ">")
	return strings.TrimSpace(id)
}
