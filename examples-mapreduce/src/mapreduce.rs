//! `SimpleMapReduce`: map, partition and reduce, with the map and reduce steps on a `Pool`.
//!
//! Reproduces PyMOTW's `multiprocessing_mapreduce.py`, which the word count imports.

use std::collections::HashMap;
use std::hash::Hash;

use multiprocessing::Pool;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub struct SimpleMapReduce<I, K, V, O> {
    map_func: fn(I) -> Vec<(K, V)>,
    reduce_func: fn((K, Vec<V>)) -> O,
    pool: Pool,
}

impl<I, K, V, O> SimpleMapReduce<I, K, V, O>
where
    I: Serialize + DeserializeOwned,
    K: Serialize + DeserializeOwned + Eq + Hash + Clone + 'static,
    V: Serialize + DeserializeOwned + 'static,
    O: Serialize + DeserializeOwned + 'static,
{
    /// map_func
    ///
    ///   Function to map inputs to intermediate data. Takes as argument one input value and
    ///   returns a list of tuples with the key and a value to be reduced.
    ///
    /// reduce_func
    ///
    ///   Function to reduce partitioned version of intermediate data to final output. Takes as
    ///   argument a key as produced by map_func and a sequence of the values associated with
    ///   that key.
    ///
    /// num_workers
    ///
    ///   The number of workers to create in the pool. Defaults to the number of CPUs available
    ///   on the current host.
    pub fn new(
        map_func: fn(I) -> Vec<(K, V)>,
        reduce_func: fn((K, Vec<V>)) -> O,
        num_workers: Option<usize>,
    ) -> multiprocessing::Result<Self> {
        Ok(SimpleMapReduce { map_func, reduce_func, pool: Pool::new(num_workers)? })
    }

    /// Organize the mapped values by their key. Returns an unsorted sequence of tuples with a
    /// key and a sequence of values.
    fn partition(&self, mapped_values: impl Iterator<Item = (K, V)>) -> Vec<(K, Vec<V>)> {
        // Python's `defaultdict(list)` keeps its keys in the order they first came; so does
        // this list, with a map from each key to its place in it.
        let mut partitioned_data: Vec<(K, Vec<V>)> = Vec::new();
        let mut place: HashMap<K, usize> = HashMap::new();
        for (key, value) in mapped_values {
            match place.get(&key) {
                Some(&i) => partitioned_data[i].1.push(value),
                None => {
                    place.insert(key.clone(), partitioned_data.len());
                    partitioned_data.push((key, vec![value]));
                }
            }
        }
        partitioned_data
    }

    /// Process the inputs through the map and reduce functions given (Python's `__call__`,
    /// with its default chunksize of 1).
    pub fn call(&self, inputs: Vec<I>) -> multiprocessing::Result<Vec<O>> {
        self.call_chunksize(inputs, 1)
    }

    /// inputs
    ///   An iterable containing the input data to be processed.
    ///
    /// chunksize
    ///   The portion of the input data to hand to each worker. This can be used to tune
    ///   performance during the mapping phase.
    pub fn call_chunksize(&self, inputs: Vec<I>, chunksize: usize) -> multiprocessing::Result<Vec<O>> {
        let map_responses = self.pool.map_chunksize(self.map_func, inputs, chunksize)?;
        let partitioned_data = self.partition(map_responses.into_iter().flatten());
        let reduced_values = self.pool.map(self.reduce_func, partitioned_data)?;
        Ok(reduced_values)
    }
}
