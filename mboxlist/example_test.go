package mboxlist_test

import (
	"fmt"
	"os"

	"github.com/murderkit/murderkit/mboxlist"
)

func ExampleDecodeRecord() {
	rec, err := mboxlist.DecodeRecord(mboxlist.V36,
		[]byte("Nuser\x1ffred\x1fSent"),
		[]byte("%(T er I u-1 P default S backend1 V 1600000000 M 1795327773 A %(fred lrswipkxtecdan anyone lr))"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	e := rec.Entry
	fmt.Println(e.Name, e.Type, e.Location(), e.ACL.Can(mboxlist.Identity{User: "bob"}, 'l'))
	// Output: user.fred.Sent er backend1!default true
}

func ExampleNewJSONEncoder() {
	enc := mboxlist.NewJSONEncoder(os.Stdout)
	enc.Add(&mboxlist.Entry{Name: "user.fred", Partition: "default", UniqueID: "u-1", UIDValidity: 7, ACL: mboxlist.ACL{{ID: "fred", Rights: "lrswipkxtecdan"}}})
	enc.Close()
	// Output:
	// {
	// "user.fred": {"name": "user.fred", "mtime": "0", "uidvalidity": "7", "createdmodseq": "0", "foldermodseq": "0", "mbtype": "e", "partition": "default", "acl": {"fred": "lrswipkxtecdan"}, "uniqueid": "u-1", "name_history": []}
	// }
}

func ExampleConvert() {
	old, _, _ := mboxlist.DecodeValue(mboxlist.V24, "user.front", []byte("1 backend1!default front\tlrswipkxtecda\t"), nil)
	up, losses := mboxlist.Convert(mboxlist.V24, mboxlist.V36, &old)
	fmt.Println(up.Type, up.Server, len(losses))
	back, losses := mboxlist.Convert(mboxlist.V36, mboxlist.V25, &mboxlist.Entry{Name: "user.x.#calendars", Type: mboxlist.TypeCalendar, UniqueID: "u", CreatedModseq: 5, Partition: "p"})
	fmt.Println(back.CreatedModseq, losses)
	// Output:
	// erl backend1 0
	// 0 [createdmodseq: Cyrus 2.5 does not store createdmodseq legacy_dirs: the mailbox's files are laid out by uniqueid (no `l` flag); Cyrus 2.5 looks for them by name]
}

func ExampleAppendLegacyLine() {
	line, _ := mboxlist.AppendLegacyLine(nil, mboxlist.V36, &mboxlist.Entry{Name: "user.front", Type: mboxlist.FlagRemote, Server: "backend1", Partition: "default",
		ACL: mboxlist.ACL{{ID: "front", Rights: "lrswipkxtecdan"}}})
	fmt.Printf("%q\n", line)
	// Output: "user.front\t16 backend1!default front\tlrswipkxtecdan\t\n"
}
