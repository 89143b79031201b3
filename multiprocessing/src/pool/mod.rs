//! `Pool`: worker processes that run one function over many inputs.
//!
//! ```rust,no_run
//! use multiprocessing::Pool;
//!
//! fn do_calculation(data: u64) -> u64 {
//!     data * 2
//! }
//!
//! let mut pool = Pool::new(4)?;
//! assert_eq!(pool.map(do_calculation, 0..10)?, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
//! pool.close();
//! pool.join()?;
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! # Why a task is a `fn`, not a closure
//!
//! The workers are forked when the pool starts (and when one is replaced), long before you call
//! `map`. A task must reach a process that already exists, so it travels through a pipe, as
//! bytes: its arguments are encoded with serde, and the function is named by its *address*
//! (`call.rs` explains why that address is valid in the worker: the worker is a copy of this
//! process, with the same code at the same places). That is why `map` takes a `fn(T) -> R`.
//!
//! A closure that captures nothing is a `fn` too (`pool.map(|x: u64| x * 2, inputs)` works). A
//! closure that *captures* cannot be sent, and the compiler says so ("closures can only be
//! coerced to `fn` types if they do not capture any variables"): what it captured lives in this
//! process's memory, created after the workers were forked, and the workers' copies of memory
//! never had it. CPython has the same limit in another form: `pool.map(lambda x: x * k, ...)`
//! fails because a lambda cannot be pickled.
//!
//! ```rust,compile_fail,E0308
//! let pool = multiprocessing::Pool::new(2)?;
//! let k = 3;
//! // error[E0308]: closures can only be coerced to `fn` types if they do not capture any variables
//! let tripled = pool.map(move |x: u64| x * k, 0..10)?;
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! What to do instead:
//!
//! - put the state in the argument: `pool.map(scale, inputs.map(|x| (x, k)))` with
//!   `fn scale((x, k): (u64, u64)) -> u64`;
//! - or set it up once per worker with the **initializer**, which *can* be a capturing closure:
//!   it runs in each worker right after the fork, and a fork copies everything this process
//!   holds at that instant, the closure included. Keep what it makes in a `static` (a
//!   `OnceLock`, a `thread_local!`) for the task functions to read, as Python's initializers
//!   set globals.
//!
//! # How it works underneath
//!
//! Each worker has two pipes: tasks in, replies out. A `map` cuts its input into chunks (as
//! CPython, `len / (4 * workers)` items, rounded up, unless you give a `chunksize`), encodes
//! each chunk as one message, and the pool hands chunks to the least busy workers, at most two
//! at a time each. A worker decodes the chunk, calls the function on each item, and sends the
//! results of the chunk back as one message; `map` puts them back in input order. Sending and
//! reading happen in the calling thread, when it submits work and whenever it waits on the pool
//! (`map`, `get`, the next item of `imap`, `join`): the pool has no thread of its own (see
//! `driver.rs`). Between those calls the workers finish what they hold and then wait.
//!
//! # When a worker dies
//!
//! CPython's `Pool` hangs forever when a worker is killed in the middle of a task (the result
//! never comes). Here the pool knows which chunk each worker holds, so:
//!
//! - a worker that dies (killed, `abort`, `std::process::exit`) fails the task it was running
//!   with [`Error::WorkerDied`], which names the worker and its exit
//!   code (`-9` for `SIGKILL`); the tasks it had not started go to another worker;
//! - a task that panics fails with [`Error::TaskPanicked`] and the
//!   panic's message, and its worker ends (exit code 1, the panic on its stderr), since a panic
//!   can leave what the worker set up half-changed;
//! - either way the pool forks a replacement when it next needs one, and `map` returns the
//!   error (the first one, after the other chunks finished, as CPython's `map` raises) instead
//!   of waiting forever;
//! - an initializer that fails (returns `Err` or panics) makes every task fail with
//!   [`Error::InitializerFailed`], and the pool stops: CPython
//!   would fork failing workers forever.
//!
//! # Names
//!
//! Workers are named as CPython names them, `ForkPoolWorker-N`, where N is the process counter
//! that `Process` uses too: the first pool of a program has `ForkPoolWorker-1` to `-4`, and a
//! replacement (after `maxtasksperchild` tasks, or a death) takes the next number.
//!
//! # The pool and its process
//!
//! A `Pool` belongs to the thread that made it (it is not `Send`): it forks its workers from
//! that thread, and the kernel ends the workers when that thread ends (`PR_SET_PDEATHSIG`), so
//! no worker outlives a pool whose process was killed. A copy of a pool in a forked child
//! refuses to be used: the workers are not that child's children.
//!
//! Dropping a `Pool` terminates it, as leaving Python's `with Pool() as pool:` does: call
//! [`close`](Pool::close) and [`join`](Pool::join) first to let queued tasks finish.

mod call;
mod driver;
mod frames;
mod worker;

use std::cell::{RefCell, RefMut};
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nix::unistd::getpid;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::process::{TargetResult, cpu_count};
use crate::wire;
use call::Call;
use driver::{Chunk, Core, IN_FLIGHT, Outcome, State};

/// What runs in each worker when it starts: the builder's initializer, its outcome as text.
type Initializer = Rc<dyn Fn() -> std::result::Result<(), String>>;

/// A pool of worker processes.
///
/// Equivalent to Python's `multiprocessing.Pool`. See the [module docs](self) for how tasks
/// reach the workers and what happens when a worker dies.
pub struct Pool {
    core: Rc<RefCell<Core>>,
    /// The process that made the pool: the only one whose children the workers are.
    owner: u32,
}

/// The options of a [`Pool`], for [`Pool::builder`].
///
/// Equivalent to the keyword arguments of Python's `Pool(processes=..., initializer=...,
/// maxtasksperchild=...)`.
#[must_use = "a builder does nothing until `start`"]
pub struct PoolBuilder {
    processes: Option<usize>,
    initializer: Option<Initializer>,
    maxtasksperchild: Option<usize>,
}

impl PoolBuilder {
    /// How many workers run at once; `None` (the default) is [`cpu_count`].
    pub fn processes(mut self, processes: impl Into<Option<usize>>) -> Self {
        self.processes = processes.into();
        self
    }

    /// A function each worker runs when it starts, before any task. It may capture what it
    /// needs (Python's `initargs`): it is in memory when each worker is forked. Returning `Err`,
    /// or panicking, fails the pool (see the module docs).
    pub fn initializer<R: TargetResult>(mut self, initializer: impl Fn() -> R + 'static) -> Self {
        self.initializer = Some(Rc::new(move || initializer().into_report()));
        self
    }

    /// How many tasks a worker runs before it exits and a new worker takes its place (Python's
    /// `maxtasksperchild`; a task is a chunk of a `map`). By default workers live as long as the
    /// pool.
    pub fn maxtasksperchild(mut self, tasks: usize) -> Self {
        self.maxtasksperchild = Some(tasks);
        self
    }

    /// Forks the workers and returns the pool.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] for 0 processes or a `maxtasksperchild` of 0 (Python:
    /// `ValueError`), or when called in a daemonic process (a pool worker); [`Error::Io`] when
    /// a fork or a pipe fails.
    pub fn start(self) -> Result<Pool> {
        let processes = self.processes.unwrap_or_else(cpu_count);
        if processes == 0 {
            return Err(Error::InvalidState("Number of processes must be at least 1 (Python: ValueError)"));
        }
        if self.maxtasksperchild == Some(0) {
            return Err(Error::InvalidState(
                "maxtasksperchild must be a positive int or None, not 0 (Python: ValueError)",
            ));
        }
        let core = Core::start(processes, self.maxtasksperchild, self.initializer)?;
        Ok(Pool { core: Rc::new(RefCell::new(core)), owner: getpid().as_raw() as u32 })
    }
}

impl Pool {
    /// A pool of `processes` workers (`None`: [`cpu_count`]), started now.
    ///
    /// Equivalent to Python's `multiprocessing.Pool(processes)`.
    ///
    /// ```rust,no_run
    /// let pool = multiprocessing::Pool::new(None)?; // one worker per CPU
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn new(processes: impl Into<Option<usize>>) -> Result<Pool> {
        Pool::builder().processes(processes).start()
    }

    /// The options of a pool: processes, initializer, maxtasksperchild.
    ///
    /// ```rust,no_run
    /// use multiprocessing::{Pool, current_process};
    ///
    /// fn start_process() {
    ///     println!("Starting {}", current_process().name);
    /// }
    ///
    /// let pool = Pool::builder().processes(4).initializer(start_process).maxtasksperchild(2).start()?;
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder { processes: None, initializer: None, maxtasksperchild: None }
    }

    /// Runs `func(arg)` in a worker and waits for the result.
    ///
    /// Equivalent to Python's `pool.apply(func, (arg,))`.
    pub fn apply<T, R>(&self, func: fn(T) -> R, arg: T) -> Result<R>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.apply_async(func, arg)?.get()
    }

    /// Sends `func(arg)` to a worker and returns at once, with a handle to wait for the result.
    ///
    /// Equivalent to Python's `pool.apply_async(func, (arg,))`.
    ///
    /// ```rust,no_run
    /// # fn slow_square(x: u64) -> u64 { x * x }
    /// let pool = multiprocessing::Pool::new(2)?;
    /// let mut result = pool.apply_async(slow_square, 7)?;
    /// match result.get_timeout(std::time::Duration::from_millis(100)) {
    ///     Ok(square) => println!("{square}"),
    ///     Err(multiprocessing::Error::Timeout) => println!("not yet"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] after `close` or `terminate` (Python: `ValueError: Pool not
    /// running`); an encoding error for an argument serde cannot encode.
    pub fn apply_async<T, R>(&self, func: fn(T) -> R, arg: T) -> Result<AsyncResult<R>>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.submit(Call::new(func), std::slice::from_ref(&arg), 1, Box::new(One::<R>(None)))
    }

    /// Runs `func` on every item of `iterable` in the workers and returns the results in input
    /// order. The items go out in chunks of `len / (4 * processes)`, rounded up.
    ///
    /// Equivalent to Python's `pool.map(func, iterable)`.
    ///
    /// # Errors
    ///
    /// The first failure of a chunk ([`Error::WorkerDied`], [`Error::TaskPanicked`]...), once
    /// every chunk has finished; [`Error::InvalidState`] after `close` or `terminate`.
    pub fn map<T, R>(&self, func: fn(T) -> R, iterable: impl IntoIterator<Item = T>) -> Result<Vec<R>>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.map_async(func, iterable)?.get()
    }

    /// [`map`](Pool::map), with `chunksize` items in each task.
    ///
    /// Equivalent to Python's `pool.map(func, iterable, chunksize)`. A chunk of 0 is an
    /// [`Error::InvalidState`] (Python: `ValueError`).
    pub fn map_chunksize<T, R>(
        &self,
        func: fn(T) -> R,
        iterable: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<Vec<R>>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + 'static,
    {
        if chunksize == 0 {
            return Err(chunksize_zero());
        }
        let items: Vec<T> = iterable.into_iter().collect();
        self.submit(Call::new(func), &items, chunksize, Box::new(All::<R>::default()))?.get()
    }

    /// [`map`](Pool::map) without waiting: the handle's [`get`](AsyncResult::get) returns the
    /// results.
    ///
    /// Equivalent to Python's `pool.map_async(func, iterable)`.
    pub fn map_async<T, R>(
        &self,
        func: fn(T) -> R,
        iterable: impl IntoIterator<Item = T>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + 'static,
    {
        let items: Vec<T> = iterable.into_iter().collect();
        // CPython's default: four chunks per worker.
        let processes = self.core()?.processes();
        let chunksize = items.len().div_ceil(4 * processes).max(1);
        self.submit(Call::new(func), &items, chunksize, Box::new(All::<R>::default()))
    }

    /// Runs `func` on every item of `iterable`, yielding the results in input order as they
    /// come. One item per task unless [`chunksize`](IMapIterator::chunksize) says otherwise.
    ///
    /// Equivalent to Python's `pool.imap(func, iterable)`. Unlike CPython's, which reads the
    /// whole input at once, the iterator takes items from `iterable` as the workers have room
    /// (so the input may be endless), and only while it is being iterated.
    ///
    /// ```rust,no_run
    /// # fn square(x: u64) -> u64 { x * x }
    /// let pool = multiprocessing::Pool::new(2)?;
    /// for square in pool.imap(square, 0..5) {
    ///     println!("{}", square?);
    /// }
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn imap<T, R, I>(&self, func: fn(T) -> R, iterable: I) -> IMapIterator<'_, T, R, I::IntoIter>
    where
        I: IntoIterator<Item = T>,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        IMapIterator::new(self, Call::new(func), iterable.into_iter(), true)
    }

    /// [`imap`](Pool::imap), yielding each result as soon as it arrives, in any order.
    ///
    /// Equivalent to Python's `pool.imap_unordered(func, iterable)`.
    pub fn imap_unordered<T, R, I>(
        &self,
        func: fn(T) -> R,
        iterable: I,
    ) -> IMapIterator<'_, T, R, I::IntoIter>
    where
        I: IntoIterator<Item = T>,
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        IMapIterator::new(self, Call::new(func), iterable.into_iter(), false)
    }

    /// No more tasks may be submitted; the workers exit when the queued ones are done.
    ///
    /// Equivalent to Python's `pool.close()`.
    pub fn close(&mut self) {
        if let Ok(mut core) = self.core() {
            core.close();
        }
    }

    /// Waits for the queued tasks to finish and for every worker to exit. Call
    /// [`close`](Pool::close) or [`terminate`](Pool::terminate) first.
    ///
    /// Equivalent to Python's `pool.join()`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when the pool is still running (Python: `ValueError`).
    pub fn join(&mut self) -> Result<()> {
        let mut core = self.core()?;
        if core.state() == State::Running {
            return Err(Error::InvalidState(
                "join(): the pool is still running; call close() or terminate() first (Python: ValueError)",
            ));
        }
        core.join()
    }

    /// Stops the workers at once (`SIGTERM`) and waits for them; tasks not finished fail.
    ///
    /// Equivalent to Python's `pool.terminate()`; dropping the pool does it too.
    pub fn terminate(&mut self) -> Result<()> {
        self.core()?.terminate();
        Ok(())
    }

    /// The pool's state, if this process may use it.
    fn core(&self) -> Result<RefMut<'_, Core>> {
        borrow_core(&self.core, self.owner)
    }

    /// Cuts `items` into chunks of `chunksize` and sends them as one job; returns its handle.
    fn submit<T: Serialize, V>(
        &self,
        call: Call,
        items: &[T],
        chunksize: usize,
        gather: Box<dyn Gather<V>>,
    ) -> Result<AsyncResult<V>> {
        let mut core = self.core()?;
        if core.state() != State::Running {
            return Err(not_running());
        }
        let job = core.new_job();
        for (index, part) in items.chunks(chunksize).enumerate() {
            // Room for the encoded chunk up front, so that it is encoded in one pass.
            let guess = size_of_val(part).saturating_add(part.len() / 4 + 64);
            let mut args = Vec::with_capacity(guess.clamp(64 << 10, 64 << 20));
            if let Err(e) = wire::encode_into(part, &mut args) {
                // As in CPython, the chunks already sent still run; their results are dropped.
                core.abandon(job);
                return Err(e);
            }
            core.submit(Chunk { job, index: index as u64, call, args });
            // Each chunk goes out as soon as it is encoded: the workers start on the first while
            // this process encodes the next.
            core.kick();
        }
        drop(core);
        Ok(AsyncResult { core: Rc::clone(&self.core), owner: self.owner, job, gather: Some(gather) })
    }
}

/// Python's `repr` of a pool: `<multiprocessing.pool.Pool state=RUN pool_size=4>`.
impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(core) = self.core.try_borrow() else { return f.write_str("<multiprocessing.pool.Pool>") };
        let state = match core.state() {
            State::Running => "RUN",
            State::Closed => "CLOSE",
            State::Terminated => "TERMINATE",
        };
        write!(f, "<multiprocessing.pool.Pool state={state} pool_size={}>", core.processes())
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Terminates the pool, as leaving Python's `with Pool() as pool:` block does.
impl Drop for Pool {
    fn drop(&mut self) {
        // In a forked copy of this process the workers are not ours to stop.
        if let Ok(mut core) = borrow_core(&self.core, self.owner) {
            core.terminate();
        }
    }
}

/// How a job's answers become the value its handle returns: each chunk is decoded as soon as it
/// arrives (while the workers run the others), then the parts are put together.
trait Gather<V> {
    /// Takes the outcome of chunk `index`.
    fn absorb(&mut self, index: u64, outcome: Outcome);
    /// The value, once every chunk was absorbed.
    fn finish(self: Box<Self>) -> Result<V>;
}

/// The one result of `apply_async`.
struct One<R>(Option<Result<R>>);

impl<R: DeserializeOwned> Gather<R> for One<R> {
    fn absorb(&mut self, _: u64, outcome: Outcome) {
        let result = decode_outcome::<R>(outcome)
            .and_then(|mut results| results.pop().ok_or(Error::InvalidState("the task's result is missing")));
        self.0 = Some(result);
    }

    fn finish(self: Box<Self>) -> Result<R> {
        self.0.unwrap_or(Err(Error::InvalidState("the task's result is missing")))
    }
}

/// The results of `map`: every chunk's in input order, or the first failure (in the order
/// they arrived, as CPython's `map` raises the first).
struct All<R> {
    parts: Vec<(u64, Vec<R>)>,
    failure: Option<Error>,
}

impl<R> Default for All<R> {
    fn default() -> Self {
        All { parts: Vec::new(), failure: None }
    }
}

impl<R: DeserializeOwned> Gather<Vec<R>> for All<R> {
    fn absorb(&mut self, index: u64, outcome: Outcome) {
        if self.failure.is_some() {
            return; // only the first failure is reported; the rest need no decoding
        }
        match decode_outcome::<R>(outcome) {
            Ok(results) => self.parts.push((index, results)),
            Err(e) => self.failure = Some(e),
        }
    }

    fn finish(self: Box<Self>) -> Result<Vec<R>> {
        let All { mut parts, failure } = *self;
        if let Some(e) = failure {
            return Err(e);
        }
        parts.sort_by_key(|(index, _)| *index);
        let mut results = Vec::with_capacity(parts.iter().map(|(_, part)| part.len()).sum());
        for (_, part) in parts {
            results.extend(part);
        }
        Ok(results)
    }
}

/// The result of [`apply_async`](Pool::apply_async) or [`map_async`](Pool::map_async), to wait
/// for.
///
/// Equivalent to Python's `multiprocessing.pool.AsyncResult`. Like everything about a pool, it
/// makes progress while someone waits on the pool: `get`, `wait` or `ready`.
pub struct AsyncResult<V> {
    core: Rc<RefCell<Core>>,
    owner: u32,
    job: u64,
    /// `None` once an earlier `get` took the result.
    gather: Option<Box<dyn Gather<V>>>,
}

impl<V> AsyncResult<V> {
    /// Waits for the result.
    ///
    /// Equivalent to Python's `result.get()`.
    ///
    /// # Errors
    ///
    /// The task's failure ([`Error::WorkerDied`], [`Error::TaskPanicked`]...); for a
    /// `map_async`, the first failure of its chunks.
    pub fn get(mut self) -> Result<V> {
        self.get_timeout(Duration::MAX)
    }

    /// Waits at most `timeout` for the result.
    ///
    /// Equivalent to Python's `result.get(timeout)`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when it is not ready in time (Python's `multiprocessing.TimeoutError`;
    /// call again to wait more); [`Error::InvalidState`] when an earlier call took the result;
    /// otherwise as [`get`](AsyncResult::get).
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<V> {
        if self.gather.is_none() {
            return Err(Error::InvalidState("get(): the result was already taken by an earlier get()"));
        }
        if !self.wait_until(Instant::now().checked_add(timeout))? {
            return Err(Error::Timeout);
        }
        self.gather.take().expect("checked above").finish()
    }

    /// Waits at most `timeout` for the result to be ready; whether it is.
    ///
    /// Equivalent to Python's `result.wait(timeout)` followed by `result.ready()`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<bool> {
        if self.gather.is_none() {
            return Ok(true);
        }
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Whether the result is ready (or failed), without waiting.
    ///
    /// Equivalent to Python's `result.ready()`.
    pub fn ready(&mut self) -> Result<bool> {
        self.wait_timeout(Duration::ZERO)
    }

    /// Drives the pool until the job has no chunk left or `deadline` (`None`: never) passes,
    /// decoding answers as they come.
    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<bool> {
        let mut core = borrow_core(&self.core, self.owner)?;
        let gather = self.gather.as_mut().expect("called only before the result is taken");
        loop {
            for (index, outcome) in core.take_done(self.job) {
                gather.absorb(index, outcome);
            }
            if core.outstanding(self.job) == 0 {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // One last look without waiting, for `ready()` and short timeouts.
                core.drive(Some(Instant::now()))?;
                for (index, outcome) in core.take_done(self.job) {
                    gather.absorb(index, outcome);
                }
                return Ok(core.outstanding(self.job) == 0);
            }
            core.drive(deadline)?;
        }
    }
}

impl<V> fmt::Debug for AsyncResult<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult").field("job", &self.job).field("taken", &self.gather.is_none()).finish()
    }
}

impl<V> Drop for AsyncResult<V> {
    fn drop(&mut self) {
        // The task still runs (CPython's does too); its result is dropped when it comes.
        if let Ok(mut core) = borrow_core(&self.core, self.owner) {
            core.abandon(self.job);
        }
    }
}

/// The results of [`Pool::imap`] and [`Pool::imap_unordered`], as they come.
///
/// Equivalent to Python's `IMapIterator` and `IMapUnorderedIterator`. Each item is the result
/// of one input item, or the failure of its task; a chunk of several items that fails yields one
/// error in their place. Dropping the iterator stops feeding the workers; tasks already sent
/// still run, and their results are dropped.
pub struct IMapIterator<'a, T, R, I> {
    pool: &'a Pool,
    call: Call,
    /// The input not yet sent; `None` once it ended.
    input: Option<I>,
    chunksize: usize,
    ordered: bool,
    job: Option<u64>,
    /// Chunks sent, and chunks whose results were handed out.
    submitted: u64,
    yielded: u64,
    /// Outcomes received and not yet handed out, in arrival order.
    arrived: VecDeque<(u64, Outcome)>,
    /// Results of the chunk being handed out.
    ready: VecDeque<Result<R>>,
    _types: PhantomData<fn(T) -> R>,
}

impl<'a, T, R, I> IMapIterator<'a, T, R, I>
where
    I: Iterator<Item = T>,
    T: Serialize,
    R: DeserializeOwned,
{
    fn new(pool: &'a Pool, call: Call, input: I, ordered: bool) -> Self {
        IMapIterator {
            pool,
            call,
            input: Some(input),
            chunksize: 1,
            ordered,
            job: None,
            submitted: 0,
            yielded: 0,
            arrived: VecDeque::new(),
            ready: VecDeque::new(),
            _types: PhantomData,
        }
    }

    /// Sends `chunksize` input items in each task (Python's `imap(func, iterable, chunksize)`):
    /// fewer, larger messages for many small tasks. A chunk of 0 yields an
    /// [`Error::InvalidState`] (Python: `ValueError`).
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        if chunksize == 0 {
            self.input = None;
            self.ready.push_back(Err(chunksize_zero()));
        }
        self.chunksize = chunksize.max(1);
        self
    }

    /// The next outcome to hand out, if it has arrived.
    fn next_arrived(&mut self) -> Option<(u64, Outcome)> {
        let position = if self.ordered {
            self.arrived.iter().position(|(index, _)| *index == self.yielded)?
        } else if self.arrived.is_empty() {
            return None;
        } else {
            0
        };
        self.arrived.remove(position)
    }

    /// Feeds the workers what they have room for, then waits for answers.
    fn step(&mut self) -> Result<()> {
        let mut core = self.pool.core()?;
        let job = match self.job {
            Some(job) => job,
            None => {
                if core.state() != State::Running {
                    self.input = None;
                    return Err(not_running());
                }
                *self.job.insert(core.new_job())
            }
        };
        // Keep the workers busy without reading far ahead: in input order, results that came
        // early wait here for the one before them.
        let ahead = (core.processes() * IN_FLIGHT * 4) as u64;
        while let Some(input) = self.input.as_mut() {
            let idle = core.outstanding(job) == 0;
            if !(idle || core.room() > 0) || self.submitted - self.yielded >= ahead {
                break;
            }
            let items: Vec<T> = input.by_ref().take(self.chunksize).collect();
            if items.is_empty() {
                self.input = None;
                break;
            }
            let mut args = Vec::new();
            if let Err(e) = wire::encode_into(&items, &mut args) {
                self.input = None; // the items after this one are not sent
                return Err(e);
            }
            core.submit(Chunk { job, index: self.submitted, call: self.call, args });
            self.submitted += 1;
        }
        let mut done = core.take_done(job);
        if done.is_empty() && core.outstanding(job) > 0 {
            core.drive(None)?;
            done = core.take_done(job);
        }
        self.arrived.extend(done);
        Ok(())
    }
}

impl<T, R, I> Iterator for IMapIterator<'_, T, R, I>
where
    I: Iterator<Item = T>,
    T: Serialize,
    R: DeserializeOwned,
{
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        loop {
            if let Some(result) = self.ready.pop_front() {
                return Some(result);
            }
            if let Some((_, outcome)) = self.next_arrived() {
                self.yielded += 1;
                match decode_outcome::<R>(outcome) {
                    Ok(results) => self.ready.extend(results.into_iter().map(Ok)),
                    Err(e) => self.ready.push_back(Err(e)),
                }
                continue;
            }
            if self.input.is_none() && self.yielded == self.submitted {
                return None;
            }
            if let Err(e) = self.step() {
                return Some(Err(e));
            }
        }
    }
}

impl<T, R, I> fmt::Debug for IMapIterator<'_, T, R, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMapIterator")
            .field("ordered", &self.ordered)
            .field("chunksize", &self.chunksize)
            .field("submitted", &self.submitted)
            .field("yielded", &self.yielded)
            .finish()
    }
}

impl<T, R, I> Drop for IMapIterator<'_, T, R, I> {
    fn drop(&mut self) {
        if let (Some(job), Ok(mut core)) = (self.job, borrow_core(&self.pool.core, self.pool.owner)) {
            core.abandon(job);
        }
    }
}

/// The pool's state, if the calling process is the pool's own.
fn borrow_core(core: &RefCell<Core>, owner: u32) -> Result<RefMut<'_, Core>> {
    if getpid().as_raw() as u32 != owner {
        return Err(Error::InvalidState(
            "a Pool can only be used by the process that made it (its workers are that process's \
             children); this is a forked copy",
        ));
    }
    core.try_borrow_mut()
        .map_err(|_| Error::InvalidState("the Pool was used again while one of its own calls was running"))
}

/// The results of one chunk, or its failure as an error.
fn decode_outcome<R: DeserializeOwned>(outcome: Outcome) -> Result<Vec<R>> {
    let body = outcome.map_err(|failure| failure.to_error())?;
    wire::decode(&body)
}

fn not_running() -> Error {
    Error::InvalidState("Pool not running: close() or terminate() was called (Python: ValueError)")
}

fn chunksize_zero() -> Error {
    Error::InvalidState("Chunksize must be 1+, not 0 (Python: ValueError)")
}
