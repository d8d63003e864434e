module image-locality.dev/tools/exit0

go 1.22
