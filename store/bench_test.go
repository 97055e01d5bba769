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
