module github.com/nodemetrics/nodemetrics

go 1.26
