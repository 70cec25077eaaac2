;; A hostile component, written by hand because no language toolchain
;; makes one like it: besides the core instance that implements the gate,
;; it instantiates a module with a 60 MiB memory forty times, 2.4 GiB in
;; all, each memory alone within a 64 MiB cap. Then it passes. The
;; sandbox must count all of its memories against the one memory limit.
;; The tests assemble it with the `wat` crate.
(component
  ;; 960 pages of 64 KiB = 60 MiB, touched by a data segment at the end so
  ;; the pages are not only reserved.
  (core module $big
    (memory 960)
    (data (i32.const 62914000) "hoard"))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))
  (core instance (instantiate $big)) (core instance (instantiate $big))

  ;; The gate itself: one page of memory, a bump allocator for the host to
  ;; lower arguments into, and two exports that return constant results.
  (core module $gate
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      ;; align up, bump, grow when needed
      (local.set $at
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (block $fits
        (br_if $fits (i32.le_u (global.get $next)
                               (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow
          (i32.add (i32.div_u (i32.sub (global.get $next)
                                       (i32.mul (memory.size) (i32.const 65536)))
                              (i32.const 65536))
                   (i32.const 1)))))
      (local.get $at))
    ;; result<_, string> at 16: all zero = ok
    (func (export "check-config") (param i32 i32) (result i32)
      (i32.const 16))
    ;; result<verdict, string> at 32: tag 0 (ok), verdict {passed: true,
    ;; summary: "" , checks: []}
    (func (export "validate") (param i32) (result i32)
      (i32.const 32))
    (data (i32.const 36) "\01"))
  (core instance $g (instantiate $gate))

  (type $kv0 (record (field "key" string) (field "value" string)))
  (export $kv "key-value" (type $kv0))
  (type $mv0 (record
    (field "name" string)
    (field "version" u64)
    (field "run-id" (option string))
    (field "status" string)
    (field "current-stage" (option string))
    (field "source" (option string))
    (field "description" (option string))
    (field "creation-timestamp" s64)
    (field "last-updated-timestamp" s64)
    (field "aliases" (list string))
    (field "tags" (list $kv))))
  (export $mv "model-version" (type $mv0))
  (type $metric0 (record
    (field "key" string) (field "value" float64)
    (field "timestamp" s64) (field "step" s64)))
  (export $metric "metric" (type $metric0))
  (type $run0 (record
    (field "run-id" string)
    (field "experiment-id" string)
    (field "run-name" (option string))
    (field "status" string)
    (field "start-time" s64)
    (field "end-time" (option s64))
    (field "metrics" (list $metric))
    (field "params" (list $kv))
    (field "tags" (list $kv))))
  (export $run "run" (type $run0))
  (type $candidate0 (record
    (field "version" $mv)
    (field "run" (option $run))
    (field "selected-by" string)))
  (export $candidate "candidate" (type $candidate0))
  (type $check0 (record
    (field "name" string)
    (field "passed" bool)
    (field "observed" (option string))
    (field "expected" (option string))
    (field "detail" (option string))))
  (export $check "check" (type $check0))
  (type $verdict0 (record
    (field "passed" bool)
    (field "summary" string)
    (field "checks" (list $check))))
  (export $verdict "verdict" (type $verdict0))

  (func (export "check-config") (param "config" string) (result (result (error string)))
    (canon lift (core func $g "check-config")
      (memory (core memory $g "memory")) (realloc (core func $g "realloc"))))
  (func (export "validate") (param "candidate" $candidate) (param "config" string)
    (result (result $verdict (error string)))
    (canon lift (core func $g "validate")
      (memory (core memory $g "memory")) (realloc (core func $g "realloc"))))
)
