package main

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef void *(*chdb_query_cmdline_fn)(int, char **);

static const char *open_lib(const char *path, void **handle, void **fn) {
	*handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (*handle == NULL) {
		return dlerror();
	}
	*fn = dlsym(*handle, "chdb_query_cmdline");
	if (*fn == NULL) {
		return dlerror();
	}
	return NULL;
}

static void call_cmdline(void *fn, int argc, char **argv) {
	((chdb_query_cmdline_fn)fn)(argc, argv);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// runEmbedded loads libchdb.so and runs clickhouse-local with args until the
// process is signalled. The call is made on a goroutine locked to its OS
// thread, because the engine keeps thread-local state.
func runEmbedded(lib string, args []string) error {
	cpath := C.CString(lib)
	defer C.free(unsafe.Pointer(cpath))
	var handle, fn unsafe.Pointer
	if msg := C.open_lib(cpath, &handle, &fn); msg != nil {
		return fmt.Errorf("load %q: %s", lib, C.GoString(msg))
	}
	argv := make([]*C.char, 0, len(args)+1)
	argv = append(argv, C.CString("clickhouse"))
	for _, a := range args {
		argv = append(argv, C.CString(a))
	}
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(done)
		cargv := (**C.char)(C.malloc(C.size_t(len(argv)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
		s := unsafe.Slice(cargv, len(argv))
		copy(s, argv)
		C.call_cmdline(fn, C.int(len(argv)), cargv)
	}()
	<-done
	return errors.New("embedded clickhouse returned: the serving query ended")
}
