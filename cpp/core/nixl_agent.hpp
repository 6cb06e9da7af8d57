// A NIXL agent over the C API: backends, registration calls, metadata and transfer requests,
// with the release order NIXL needs (requests and prepared lists before the agent) and a native
// thread that polls transfers so that nobody has to block. Policy (which backends, reference
// counts, which memory) lives in the TS layer; this file only makes the calls safely.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/shim/nixl.hpp"

namespace dynamo::memory::nixl {

/// nixlAgentConfig as we expose it. Defaults follow NIXL's C++ defaults, not the C API's
/// create_agent (which forces a progress thread).
struct AgentConfig {
  bool progress_thread = false;
  bool listener = false;
  int listen_port = 8888;
  ThreadSync thread_sync = kSyncNone;
  std::uint64_t progress_delay_us = 0;
  std::uint64_t listener_delay_us = 100000;
  bool telemetry = false;
};

/// One descriptor: address (or file offset), length and device id, as NIXL reads them.
struct Desc {
  std::uint64_t addr = 0;
  std::uint64_t len = 0;
  std::uint64_t dev_id = 0;
};

/// A plugin's or a live backend's declared memory types and parameters.
struct BackendInfo {
  std::vector<std::string> mem_types;
  std::vector<std::pair<std::string, std::string>> params;
};

/// Returns "DRAM", "VRAM", "BLOCK", "OBJECT", "FILE" or "UNKNOWN".
const char* mem_type_name(int mem_type) noexcept;

class Agent;

/// A transfer request. Created by an Agent; keeps its agent alive. Calls on one request are
/// serialised by the agent's lock, so the poller and the JS thread never race on it.
class XferRequest : public std::enable_shared_from_this<XferRequest> {
 public:
  enum class State { kReady, kInFlight, kDone, kFailed, kReleased };
  /// Called once per post that did not finish inline: null on success, else the failure. Runs on
  /// the agent's poll thread (or on the thread that released or closed).
  using Completion = std::function<void(std::exception_ptr failure)>;

  XferRequest(std::shared_ptr<Agent> agent, capi_xfer_req request, std::size_t descs);
  ~XferRequest();
  XferRequest(const XferRequest&) = delete;
  XferRequest& operator=(const XferRequest&) = delete;

  /// Posts the request. Returns true when it completed inline (`done` is then not called);
  /// otherwise the agent's poll thread calls `done` when it completes or fails.
  /// @throws Error kDisposed (released, or the agent closed), kBusy ERR_DMEM_NIXL_IN_FLIGHT
  ///   (already posted and not finished), kNixl with the status name when the post fails.
  bool post(Completion done);

  /// Releases the request, cancelling it when in flight (its completion then fails with
  /// NIXL_ERR_CANCELED). Idempotent: returns false when already released.
  /// @throws Error kNixl when NIXL cannot cancel it (the request stays usable).
  bool release();

  State state() const;
  std::size_t descs() const noexcept { return _descs; }

 private:
  friend class Agent;
  std::shared_ptr<Agent> _agent;
  capi_xfer_req _request;  // null once released; NB: guarded by the agent's lock
  std::size_t _descs;
  State _state = State::kReady;
  Completion _pending;
};

/// A descriptor list prepared once (prepXferDlist) and used by many makeXferReq calls.
class PreparedList {
 public:
  PreparedList(std::shared_ptr<Agent> agent, capi_dlist_handle handle, std::size_t descs);
  ~PreparedList();
  PreparedList(const PreparedList&) = delete;
  PreparedList& operator=(const PreparedList&) = delete;

  /// Releases the handle; idempotent (false when already released).
  bool release();
  std::size_t descs() const noexcept { return _descs; }

 private:
  friend class Agent;
  std::shared_ptr<Agent> _agent;
  capi_dlist_handle _handle;  // null once released; guarded by the agent's lock
  std::size_t _descs;
};

/// One NIXL agent. Every call takes the agent's lock: NIXL's default thread-sync mode has none,
/// and the poll thread calls getXferStatus concurrently with the JS thread.
class Agent : public std::enable_shared_from_this<Agent> {
 public:
  /// Creates the agent.
  /// @throws Error kNixlUnavailable when NIXL is not loaded; kNixl when NIXL refuses (empty or
  ///   reused name, listener port taken, conflicting metadata settings).
  static std::shared_ptr<Agent> create(const std::string& name, const AgentConfig& config);

  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  const std::string& name() const noexcept { return _name; }
  bool closed() const;

  /// The plugins NIXL can load (from the plugin directory and built in).
  std::vector<std::string> plugins();
  /// A plugin's declared memory types and default parameters. @throws kNixl NIXL_ERR_BACKEND
  /// (also for an unknown plugin: the C API folds NOT_FOUND into BACKEND here).
  BackendInfo plugin_params(const std::string& plugin);
  /// Creates a backend of a plugin type and returns the live backend's memory types and params.
  /// @throws Error kInvalidArgument ERR_DMEM_NIXL_BACKEND_EXISTS; kNixl from NIXL.
  BackendInfo create_backend(const std::string& type,
                             const std::vector<std::pair<std::string, std::string>>& params);
  /// Names of the backends created so far, in creation (preference) order.
  std::vector<std::string> backends() const;

  /// Registers (or deregisters) one list of one memory type with exactly one backend.
  /// @throws Error kInvalidArgument ERR_DMEM_NIXL_NO_BACKEND; kNixl from NIXL.
  void register_mem(int mem_type, const std::vector<Desc>& descs, const std::string& backend);
  void deregister_mem(int mem_type, const std::vector<Desc>& descs, const std::string& backend);

  /// This agent's metadata blob, to hand to peers.
  std::string local_metadata();
  /// Loads a peer's metadata; returns the peer's agent name.
  std::string load_remote_metadata(const std::string& blob);
  /// Forgets a peer's metadata (and disconnects).
  void invalidate_remote(const std::string& agent);

  /// Notifications received since the last call, grouped by sender. Also progresses UCX.
  /// @throws Error kNixl NIXL_ERR_BACKEND when no backend of the agent supports notifications.
  std::vector<std::pair<std::string, std::vector<std::string>>> notifications();
  /// Sends a standalone notification to `agent` (a loaded peer, or this agent's own name).
  void send_notification(const std::string& agent,
                         const std::string& message,
                         const std::string& backend);

  /// Creates a transfer request between a local list and a list on `remote_agent` (this agent's
  /// own name for local targets such as files). `backend` empty lets NIXL choose.
  std::shared_ptr<XferRequest> create_xfer(XferOp op,
                                           int local_type,
                                           const std::vector<Desc>& local,
                                           int remote_type,
                                           const std::vector<Desc>& remote,
                                           const std::string& remote_agent,
                                           const std::string& backend,
                                           const std::string* notification);

  /// Prepares a list once; `agent` empty is the local side, a peer's name (or ours) the target.
  std::shared_ptr<PreparedList> prepare(const std::string& agent,
                                        int mem_type,
                                        const std::vector<Desc>& descs,
                                        const std::string& backend);
  /// Makes a request from two prepared lists and matching index lists.
  std::shared_ptr<XferRequest> make_xfer(XferOp op,
                                         PreparedList& local,
                                         const std::vector<int>& local_indices,
                                         PreparedList& remote,
                                         const std::vector<int>& remote_indices,
                                         const std::string& backend,
                                         const std::string* notification);

  /// Releases every live transfer request (cancelling those in flight), then every prepared
  /// list, stops the poll thread and destroys the agent, which deregisters whatever is still
  /// registered. Idempotent.
  void close() noexcept;

  /// Requests and prepared lists still alive; for tests.
  std::size_t live_requests() const;
  std::size_t live_prepared() const;

 private:
  friend class XferRequest;
  friend class PreparedList;

  Agent(std::string name, capi_agent handle);
  void ensure_open() const;                                    // NB: lock held
  capi_backend backend_handle(const std::string& name) const;  // NB: lock held
  void start_poller();                                         // NB: lock held
  static void poll_loop(std::shared_ptr<Agent> self);
  void release_request_locked(XferRequest& request, std::vector<std::function<void()>>& after);
  void reserve_tracking();  // NB: lock held

  std::string _name;
  capi_agent _handle;
  mutable std::mutex _mutex;
  std::vector<std::pair<std::string, capi_backend>> _backends;
  std::vector<std::weak_ptr<XferRequest>> _requests;
  std::vector<std::weak_ptr<PreparedList>> _prepared;
  std::vector<std::weak_ptr<XferRequest>> _in_flight;
  std::condition_variable _wake;
  std::thread _poller;
  bool _stopping = false;
  bool _poller_running = false;
};

}  // namespace dynamo::memory::nixl
