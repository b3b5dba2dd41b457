package sshd

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// HostKeyFile is the SSH server's host key in the data directory: an
// ed25519 key in OpenSSH's format, mode 0600, made on first start. It is
// what clients pin in known_hosts, so backups carry it.
const HostKeyFile = "ssh_host_ed25519_key"

// LoadHostKey reads the host key in dataDir, creating it when missing.
func LoadHostKey(dataDir string) (ssh.Signer, error) {
	path := filepath.Join(dataDir, HostKeyFile)
	pemBytes, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		pemBytes, err = createHostKey(path)
		if errors.Is(err, fs.ErrExist) {
			// Another process made it first: use theirs.
			pemBytes, err = os.ReadFile(path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("ssh host key %s: %w", path, err)
	}
	return signer, nil
}

func createHostKey(path string) ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "tapioca host key")
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(block)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	if cerr := f.Close(); werr != nil || serr != nil || cerr != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write %s: %w", path, errors.Join(werr, serr, cerr))
	}
	return data, nil
}

// HostKeyFingerprint is the SHA-256 fingerprint of the host key; "" for
// a nil door (SSH off).
func (d *Door) HostKeyFingerprint() string {
	if d == nil {
		return ""
	}
	return ssh.FingerprintSHA256(d.cfg.HostKey.PublicKey())
}
