//! The target of `import_main`, in a module of its own: PyMOTW's
//! `multiprocessing_import_worker.py`.

/// worker function
pub fn worker() {
    println!("Worker");
}
