package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the work factor of password hashes.
const BcryptCost = 10

// HashPassword returns a bcrypt hash of a password.
func HashPassword(password string) (string, error) {
	if len(password) > 72 {
		return "", errors.New("password longer than 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash (bcrypt). An empty hash
// never matches.
func CheckPassword(hash, password string) bool {
	if hash == "" || len(password) > 72 {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
const alnumMixed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomString returns n characters drawn uniformly from alphabet.
func RandomString(n int, alphabet string) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(fmt.Sprintf("crypto/rand failed: %v", err))
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// NewRobotToken returns a 64-character robot token (A-Z, 0-9), as Quay's.
func NewRobotToken() string { return RandomString(64, alnum) }

// Token prefix and secret lengths of app and OAuth tokens.
const (
	TokenPrefixLen = 20
	TokenSecretLen = 40
)

// NewSplitToken returns a token made of a lookup prefix and a secret. Only
// HashSecret(secret) is stored.
func NewSplitToken() (token, prefix, secret string) {
	prefix = RandomString(TokenPrefixLen, alnumMixed)
	secret = RandomString(TokenSecretLen, alnumMixed)
	return prefix + secret, prefix, secret
}

// SplitToken splits a token into prefix and secret.
func SplitToken(token string) (prefix, secret string, ok bool) {
	if len(token) != TokenPrefixLen+TokenSecretLen {
		return "", "", false
	}
	return token[:TokenPrefixLen], token[TokenPrefixLen:], true
}

// HashSecret hashes a high-entropy token secret (SHA-256, hex).
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// SecretMatches compares a secret with its stored hash in constant time.
func SecretMatches(hash, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(secret))) == 1
}

// Box encrypts short secrets at rest (robot tokens, OAuth client secrets,
// signing keys) with AES-256-GCM under a key derived from the configured
// database secret.
type Box struct {
	aead cipher.AEAD
}

// NewBox derives the encryption key from secret.
func NewBox(secret string) (*Box, error) {
	if len(secret) < 16 {
		return nil, errors.New("the database secret key must be at least 16 characters")
	}
	key := sha256.Sum256([]byte("wharf database secret v1\x00" + secret))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext; the result is "v1:" + base64(nonce|ciphertext).
func (b *Box) Seal(plaintext string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := b.aead.Seal(nonce, nonce, []byte(plaintext), nil)
	return "v1:" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal.
func (b *Box) Open(sealed string) (string, error) {
	raw, ok := cutPrefix(sealed, "v1:")
	if !ok {
		return "", errors.New("unknown secret encoding")
	}
	data, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(data) < b.aead.NonceSize() {
		return "", errors.New("malformed secret")
	}
	n := b.aead.NonceSize()
	pt, err := b.aead.Open(nil, data[:n], data[n:], nil)
	if err != nil {
		return "", errors.New("cannot decrypt secret (wrong DATABASE_SECRET_KEY?)")
	}
	return string(pt), nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}
