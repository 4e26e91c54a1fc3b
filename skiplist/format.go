package skiplist

// Part of the on-disk format; do not change.
const (
	headerLen     = 48
	offVersion    = 20
	offMinor      = 24
	offMaxLevel   = 28
	offCurLevel   = 32
	offListSize   = 36
	offLogStart   = 40
	offRecovery   = 44
	version       = 1
	versionMinor  = 2
	maxLevel      = 20
	dummyOffset   = headerLen
	dummyLen      = 4 * (3 + maxLevel + 1) // with maxlevel 20: 96
	firstRecord   = dummyOffset + dummyLen // 144 = 0x90
	terminator    = 0xFFFFFFFF
	typeInorder   = 1
	typeAdd       = 2
	typeDelete    = 4
	typeCommit    = 255
	typeDummy     = 257
	deleteLen     = 8
	commitLen     = 4
	maxFileOffset = 0xFFFFFFFF - 1
)

func r4(n int64) int64 { return (n + 3) &^ 3 }

func typeName(t uint32) string {
	switch t {
	case typeInorder:
		return "INORDER"
	case typeAdd:
		return "ADD"
	case typeDelete:
		return "DELETE"
	case typeCommit:
		return "COMMIT"
	case typeDummy:
		return "DUMMY"
	}
	return "unknown"
}
