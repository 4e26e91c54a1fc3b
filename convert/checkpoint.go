package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Checkpoint is the resumable state of a pipeline: the job it belongs to
// (a key built from the source's identity, the sink and every option that
// changes the result) and how many source entries (in the source's order)
// are known to be stored in the sink.
type Checkpoint struct {
	Job  string `json:"job"`
	Done int64  `json:"done"`
}

// JobKey hashes the parts that identify a job.
func JobKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DefaultCheckpointPath is where a job's checkpoint lives when no path is
// given: $XDG_STATE_HOME or ~/.local/state, then mboxconv/JOB.json.
func DefaultCheckpointPath(job string) (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "mboxconv", job[:32]+".json"), nil
}

// LoadCheckpoint reads the checkpoint at path; a missing file, or one of
// another job, is a fresh start (Done 0).
func LoadCheckpoint(path, job string) (Checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Checkpoint{Job: job}, nil
	}
	if err != nil {
		return Checkpoint{}, err
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint %s: %w (remove it to start over)", path, err)
	}
	if c.Job != job || c.Done < 0 {
		return Checkpoint{Job: job}, nil
	}
	return c, nil
}

// Save writes the checkpoint through a temporary file renamed over path:
// a kill at any moment leaves the old or the new checkpoint, never a torn
// one. It is not synced (a kill -9 keeps the page cache; after a power
// loss an older checkpoint only means more work redone, since every sink
// write is idempotent).
func (c Checkpoint) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// RemoveCheckpoint deletes a finished job's checkpoint.
func RemoveCheckpoint(path string) error {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// FileIdentity is what makes a file's content the same across runs for a
// checkpoint: path, size and modification time.
func FileIdentity(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return abs + "\x00" + strconv.FormatInt(st.Size(), 10) + "\x00" + strconv.FormatInt(st.ModTime().UnixNano(), 10), nil
}
