package core

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the data directory's secret key: 32 random bytes, mode
// 0600, made on first start. Secrets the forge must be able to read back
// (webhook secrets, upstream tokens, deploy keys) are stored sealed with
// it; backups carry it with the database.
const KeyFile = "secret.key"

// sealedPrefix marks a sealed value; a value without it is plain text
// written before sealing existed.
const sealedPrefix = "sealed:v1:"

// SecretBox seals and opens secrets with the data directory's key
// (AES-256-GCM, a random nonce per value).
type SecretBox struct{ aead cipher.AEAD }

// LoadSecretBox reads the key in dataDir, creating it when missing.
func LoadSecretBox(dataDir string) (*SecretBox, error) {
	path := filepath.Join(dataDir, KeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("make secret key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create secret key: %w", err)
		}
		_, werr := f.Write(key)
		serr := f.Sync()
		if cerr := f.Close(); werr != nil || serr != nil || cerr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write secret key: %w", errors.Join(werr, serr, cerr))
		}
	} else if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key %s: %d bytes, want 32", path, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// Seal encrypts plain; "" stays "" (no secret).
func (b *SecretBox) Seal(plain string) string {
	if plain == "" {
		return ""
	}
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	_, _ = rand.Read(nonce)
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, []byte(plain), nil))
}

// Open decrypts a sealed value. A value that was never sealed (written
// before sealing existed) is returned as it is.
func (b *SecretBox) Open(stored string) (string, error) {
	enc, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("sealed secret is corrupt")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", errors.New("sealed secret does not open with this data directory's key")
	}
	return string(plain), nil
}

// Sealed reports whether a stored value is sealed.
func Sealed(stored string) bool { return strings.HasPrefix(stored, sealedPrefix) }
