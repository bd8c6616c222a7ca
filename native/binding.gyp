{
  "targets": [
    {
      "target_name": "berth_native",
      "sources": ["src/berth_native.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-O2"],
      "ldflags": ["-pthread"]
    },
    {
      # `berth run -d`'s binary:// logging program (see the file's comment).
      "target_name": "berth-log",
      "type": "executable",
      "sources": ["src/berth_log.c"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
