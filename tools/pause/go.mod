module image-locality.dev/tools/pause

go 1.22
