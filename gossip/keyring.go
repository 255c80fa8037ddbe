package gossip

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/memberlist"
)

// The keyring's operations on a running Membership. How encryption works
// and the order of a rotation are in the package documentation (doc.go):
// install everywhere, then use everywhere, then remove everywhere.

// ErrUnencrypted is returned by the key operations of a Membership started
// without keys: encryption cannot be switched on while it runs.
var ErrUnencrypted = errors.New("gossip runs unencrypted (started without keys); restart it with the cluster's gossip keys to encrypt it")

// validKeySizes are the AES key sizes memberlist accepts.
const validKeySizes = "16, 24 or 32 bytes (AES-128, AES-192 or AES-256)"

// checkKey says what is wrong with one key, for an error message.
func checkKey(k []byte) error {
	if memberlist.ValidateKey(k) != nil {
		return fmt.Errorf("is %d bytes; a gossip key must be %s", len(k), validKeySizes)
	}
	return nil
}

// checkKeys validates a keyring given primary first.
func checkKeys(keys [][]byte) error {
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("gossip key %d of %d %w", i+1, len(keys), err)
		}
	}
	return nil
}

// newKeyring builds memberlist's keyring from validated keys, primary first,
// or returns nil (no encryption) for none. The keys are copied: memberlist
// keeps them for as long as it runs.
func newKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	cloned := make([][]byte, len(keys))
	for i, k := range keys {
		cloned[i] = bytes.Clone(k)
	}
	ring, err := memberlist.NewKeyring(cloned[1:], cloned[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	return ring, nil
}

// keyring is memberlist's keyring, or ErrUnencrypted. m.ring is set once by
// New; keyMu, not this, keeps key changes from interleaving.
func (m *Membership) keyring() (*memberlist.Keyring, error) {
	if m.ring == nil {
		return nil, ErrUnencrypted
	}
	return m.ring, nil
}

// InstallKey adds k to the keyring, so that this node reads gossip sealed
// with it; it keeps sending with the primary key. Installing a key already
// there does nothing. This is round 1 of a rotation.
func (m *Membership) InstallKey(k []byte) error {
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	return m.installKey(k)
}

func (m *Membership) installKey(k []byte) error {
	ring, err := m.keyring()
	if err != nil {
		return fmt.Errorf("install gossip key: %w", err)
	}
	if err := checkKey(k); err != nil {
		return fmt.Errorf("install gossip key: the key %w", err)
	}
	if err := ring.AddKey(bytes.Clone(k)); err != nil {
		return fmt.Errorf("install gossip key: %w", err)
	}
	return nil
}

// UseKey makes k, which must be installed, the primary key: this node seals
// everything it sends with it from now on. Every other node must have k
// installed first, or they can no longer read this one. This is round 2 of a
// rotation.
func (m *Membership) UseKey(k []byte) error {
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	return m.useKey(k)
}

func (m *Membership) useKey(k []byte) error {
	ring, err := m.keyring()
	if err != nil {
		return fmt.Errorf("use gossip key: %w", err)
	}
	if !slices.ContainsFunc(ring.GetKeys(), func(have []byte) bool { return bytes.Equal(have, k) }) {
		return fmt.Errorf("use gossip key: the key is not installed on this node; install it (on every node) first")
	}
	if err := ring.UseKey(k); err != nil {
		return fmt.Errorf("use gossip key: %w", err)
	}
	return nil
}

// RemoveKey drops k from the keyring: gossip sealed with it is no longer
// read. The primary key cannot be removed (use another one first), and
// removing a key that is not installed does nothing. Every node must have
// stopped using k first. This is round 3 of a rotation.
func (m *Membership) RemoveKey(k []byte) error {
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	return m.removeKey(k)
}

func (m *Membership) removeKey(k []byte) error {
	ring, err := m.keyring()
	if err != nil {
		return fmt.Errorf("remove gossip key: %w", err)
	}
	keys := ring.GetKeys()
	if bytes.Equal(keys[0], k) {
		return fmt.Errorf("remove gossip key: it is the primary key, which this node sends with; use another key first (on every node), then remove this one")
	}
	if !slices.ContainsFunc(keys, func(have []byte) bool { return bytes.Equal(have, k) }) {
		return nil
	}
	// memberlist's RemoveKey shifts the remaining keys down in place, in the
	// very array GetKeys handed to its readers, which decrypt from it
	// without the keyring's lock. UseKey of the current primary swaps in a
	// fresh array first, so the shift only touches one no reader was given
	// (bar one that calls GetKeys between these two lines).
	if err := ring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("remove gossip key: %w", err)
	}
	if err := ring.RemoveKey(k); err != nil {
		return fmt.Errorf("remove gossip key: %w", err)
	}
	return nil
}

// Keys is the keyring: the primary key (the one this node sends with) and
// all the keys it reads with, the primary first. Both are nil when gossip is
// unencrypted. The slices are copies.
func (m *Membership) Keys() (primary []byte, all [][]byte) {
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	if m.ring == nil {
		return nil, nil
	}
	for _, k := range m.ring.GetKeys() {
		all = append(all, bytes.Clone(k))
	}
	return all[0], all
}

// SetKeys makes the keyring hold exactly keys, the first one primary, from
// whatever it holds now, in the order that never leaves this node unable to
// read a peer that is one round behind or ahead of it: it installs the new
// keys, then switches the primary, then removes the keys not listed. The
// order of the keys after the first does not matter (each is tried in turn).
// It is how the node follows the replicated keyring; it does not make an
// unsafe change to that list safe (see the rotation procedure in the
// package documentation). All
// keys are checked before anything changes; an empty list is refused, since
// a running node cannot switch encryption off.
func (m *Membership) SetKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("set gossip keys: no key given; a running node cannot switch gossip encryption off")
	}
	if err := checkKeys(keys); err != nil {
		return fmt.Errorf("set gossip keys: %w", err)
	}
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	ring, err := m.keyring()
	if err != nil {
		return fmt.Errorf("set gossip keys: %w", err)
	}
	for _, s := range planKeyChanges(ring.GetKeys(), keys) {
		var err error
		switch s.op {
		case installKeyStep:
			err = m.installKey(s.key)
		case useKeyStep:
			err = m.useKey(s.key)
		case removeKeyStep:
			err = m.removeKey(s.key)
		}
		if err != nil {
			return fmt.Errorf("set gossip keys: %w", err)
		}
	}
	return nil
}

type keyOp int

const (
	installKeyStep keyOp = iota
	useKeyStep
	removeKeyStep
)

type keyStep struct {
	op  keyOp
	key []byte
}

// planKeyChanges is the sequence of steps that turns the ring current into
// target (both primary first, target not empty): install what target adds,
// use target's primary if it is not already, remove what target drops. A
// key in both is never removed, and nothing is removed before the primary
// is switched, so the ring can always read both the old and the new primary.
func planKeyChanges(current, target [][]byte) []keyStep {
	has := func(ring [][]byte, k []byte) bool {
		return slices.ContainsFunc(ring, func(have []byte) bool { return bytes.Equal(have, k) })
	}
	var steps []keyStep
	var installed [][]byte
	for _, k := range target {
		if !has(current, k) && !has(installed, k) {
			steps = append(steps, keyStep{installKeyStep, k})
			installed = append(installed, k)
		}
	}
	if len(current) == 0 || !bytes.Equal(current[0], target[0]) {
		steps = append(steps, keyStep{useKeyStep, target[0]})
	}
	for _, k := range current {
		if !has(target, k) {
			steps = append(steps, keyStep{removeKeyStep, k})
		}
	}
	return steps
}

// KeyMismatchError is Join's error when every peer it reached refused this
// node's gossip, or sent gossip this node cannot read, because the two do not
// share a gossip key (or one of them has none).
type KeyMismatchError struct {
	Peer           string // address given to Join
	LocalEncrypts  bool   // this node has a keyring
	RemoteEncrypts bool   // the peer has one
}

func (e *KeyMismatchError) Error() string {
	switch {
	case e.LocalEncrypts && e.RemoteEncrypts:
		return fmt.Sprintf("peer %s refused our gossip: different gossip key (neither node holds the key the other sends with); give this node the cluster's current gossip key", e.Peer)
	case e.RemoteEncrypts:
		return fmt.Sprintf("peer %s refused our gossip: it encrypts gossip and this node has no gossip key; start this node with the cluster's gossip key", e.Peer)
	default:
		return fmt.Sprintf("peer %s refused our gossip: it gossips unencrypted and this node has a gossip key; is it a --dev node, or from before encryption? (a cluster gossips either all encrypted or all not)", e.Peer)
	}
}

// keyMismatch recognises memberlist's errors for a push/pull that one side
// could not decrypt, or returns nil. memberlist has no typed errors for them,
// so this matches their text (v0.6.0, readStream in net.go and
// decryptPayload in security.go); a later version that rewords them only
// loses the actionable message, not the refusal. Each arises on our side:
// the peer answers a push it cannot read with an error sealed its own way,
// which we then cannot read either.
func (m *Membership) keyMismatch(addr string, err error) *KeyMismatchError {
	text := err.Error()
	local := m.ring != nil
	switch {
	case strings.Contains(text, "no installed keys could decrypt the message"):
		return &KeyMismatchError{Peer: addr, LocalEncrypts: local, RemoteEncrypts: true}
	case strings.Contains(text, "remote state is encrypted and encryption is not configured"),
		strings.Contains(text, "encryption is configured but remote state is not encrypted"):
		return &KeyMismatchError{Peer: addr, LocalEncrypts: local, RemoteEncrypts: !local}
	}
	return nil
}

// KeyringDigest names a keyring, primary first, without revealing it: the
// first 8 bytes of a SHA-256 over the keys, hex. Two nodes with the same
// digest send with the same key and read the same ones.
func KeyringDigest(keys [][]byte) string {
	if len(keys) == 0 {
		return ""
	}
	h := sha256.New()
	h.Write(keys[0])
	rest := make([]string, 0, len(keys)-1)
	for _, k := range keys[1:] {
		rest = append(rest, string(k))
	}
	sort.Strings(rest)
	for _, k := range rest {
		h.Write([]byte{0})
		h.Write([]byte(k))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
