package twoskip

// Part of the on-disk format; do not change.
const (
	headerLen   = 64
	offVersion  = 20
	offGen      = 24
	offNum      = 32
	offRepack   = 40
	offCurrent  = 48
	offFlags    = 56
	offCRC      = 60
	version     = 1
	maxLevel    = 31
	dummyOffset = headerLen
	// dummyLen is the DUMMY record: 8 + 8·32 slots + 8 CRCs.
	dummyLen    = 8 + 8*(maxLevel+1) + 8
	firstRecord = dummyOffset + dummyLen // 336 = 0x150
	commitLen   = 24
	minRecord   = 24
	align       = 8

	flagDirty = 1

	typeDummy  = '='
	typeRecord = '+'
	typeDelete = '-'
	typeCommit = '$'

	keyLenEscape = 0xFFFF
	valLenEscape = 0xFFFFFFFF
)

// blank is the 8-byte BLANK pad unit of 3.2+ writers.
var blank = [8]byte{' ', 'B', 'L', 'A', 'N', 'K', 0x07, 0xA0}

func r8(n int64) int64 { return (n + 7) &^ 7 }

func typeName(t byte) string {
	switch t {
	case typeDummy:
		return "DUMMY"
	case typeRecord:
		return "RECORD"
	case typeDelete:
		return "DELETE"
	case typeCommit:
		return "COMMIT"
	case ' ':
		return "BLANK"
	}
	return "unknown"
}
