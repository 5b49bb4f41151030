package lro

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A page token is base64url(payload || mac), where payload is
//
//	version byte | binding (8 bytes) | create time (varint unix nanos) | name
//
// binding is a hash of the request's name and filter, so a token only
// continues the listing it came from, and mac is a truncated HMAC-SHA256 of
// the payload under the Manager's token key, so a tampered token is refused.
const (
	tokenVersion = 1
	tokenMACSize = 16
	maxTokenSize = 4096
)

var errBadToken = errors.New("invalid page token")

// listBinding identifies the listing a token belongs to.
func listBinding(name, filter string) uint64 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(filter))
	return binary.BigEndian.Uint64(h.Sum(nil))
}

func encodePageToken(key []byte, binding uint64, c Cursor) string {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen64+len(c.Name)+tokenMACSize)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint64(b, binding)
	b = binary.AppendVarint(b, c.CreateTime.UnixNano())
	b = append(b, c.Name...)
	b = append(b, tokenMAC(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(key []byte, binding uint64, tok string) (Cursor, error) {
	// The decoder skips line breaks and tolerates stray padding bits, so
	// refuse both: only the exact string we issued is a token.
	if len(tok) > maxTokenSize || strings.ContainsAny(tok, "\r\n") {
		return Cursor{}, errBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < 1+8+1+tokenMACSize {
		return Cursor{}, errBadToken
	}
	payload, mac := b[:len(b)-tokenMACSize], b[len(b)-tokenMACSize:]
	if !hmac.Equal(mac, tokenMAC(key, payload)) || payload[0] != tokenVersion {
		return Cursor{}, errBadToken
	}
	if binary.BigEndian.Uint64(payload[1:9]) != binding {
		return Cursor{}, errors.New("page token belongs to a request with another name or filter")
	}
	nanos, n := binary.Varint(payload[9:])
	if n <= 0 {
		return Cursor{}, errBadToken
	}
	return Cursor{CreateTime: time.Unix(0, nanos).UTC(), Name: string(payload[9+n:])}, nil
}

func tokenMAC(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)[:tokenMACSize]
}

// pageTokenKey returns the key that signs page tokens: the configured one,
// the store's, or a random one made once.
func (m *Manager) pageTokenKey(ctx context.Context) ([]byte, error) {
	m.mu.Lock()
	key := m.tokenKey
	m.mu.Unlock()
	if key != nil {
		return key, nil
	}
	if ts, ok := m.store.(TokenSecreter); ok {
		k, err := ts.TokenSecret(ctx)
		m.obs.storeError(ctx, storeTokenSecret, err)
		if err != nil {
			return nil, storeError(fmt.Errorf("reading the page token key: %w", err), "")
		}
		if len(k) == 0 {
			return nil, status.Error(codes.Unavailable, "operation store: empty page token key")
		}
		key = k
	} else {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	m.mu.Lock()
	if m.tokenKey == nil {
		m.tokenKey = key
	}
	key = m.tokenKey
	m.mu.Unlock()
	return key, nil
}
