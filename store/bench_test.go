package store

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkUpdatePut measures one small Put per committed Update: the rate of
// durable commits (each ends in fdatasync).
func BenchmarkUpdatePut(b *testing.B) {
	db := openTest(b)
	value := make([]byte, 200)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		err := db.Update(func(tx Tx) error { return tx.Put(Audit, fmt.Sprintf("%08d", i), value) })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkUpdatePutParallel is BenchmarkUpdatePut from many goroutines;
// Updates are serialised, so this shows the cost of contention.
func BenchmarkUpdatePutParallel(b *testing.B) {
	db := openTest(b)
	value := make([]byte, 200)
	var n atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			err := db.Update(func(tx Tx) error { return tx.Put(Audit, fmt.Sprintf("%08d", i), value) })
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkUpdatePutSecret is BenchmarkUpdatePut with a sealed value.
func BenchmarkUpdatePutSecret(b *testing.B) {
	db := openTest(b)
	value := make([]byte, 200)
	for i := 0; b.Loop(); i++ {
		err := db.Update(func(tx Tx) error { return tx.PutSecret(Connections, fmt.Sprintf("%08d", i), "token", value) })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkViewGet measures a read transaction with one Get.
func BenchmarkViewGet(b *testing.B) {
	db := openTest(b)
	_ = db.Update(func(tx Tx) error { return tx.Put(Audit, "k", make([]byte, 200)) })
	for b.Loop() {
		_ = db.View(func(tx Tx) error {
			if tx.Get(Audit, "k") == nil {
				b.Fatal("missing")
			}
			return nil
		})
	}
}

// BenchmarkViewSecret measures a read transaction that opens one secret.
func BenchmarkViewSecret(b *testing.B) {
	db := openTest(b)
	_ = db.Update(func(tx Tx) error { return tx.PutSecret(Connections, "c", "token", make([]byte, 200)) })
	for b.Loop() {
		_ = db.View(func(tx Tx) error {
			_, err := tx.Secret(Connections, "c", "token")
			return err
		})
	}
}

// BenchmarkOpen100kRecords measures Open of a database holding 100,000
// records of 200 bytes: the cost of the consistency check at every start.
func BenchmarkOpen100kRecords(b *testing.B) {
	db := openTest(b)
	value := make([]byte, 200)
	err := db.Update(func(tx Tx) error {
		for i := range 100_000 {
			if err := tx.Put(Audit, SequenceKey(uint64(i)), value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	path := db.Path()
	db.Close()
	for b.Loop() {
		db, err := Open(path, Options{SecretKey: testKey})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
