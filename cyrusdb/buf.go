package cyrusdb

import "bufio"

type flusher struct{ *bufio.Writer }

func newBuf(w interface{ Write([]byte) (int, error) }) *flusher {
	return &flusher{bufio.NewWriterSize(w, 1<<20)}
}
