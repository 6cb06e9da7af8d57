// Transfer requests, prepared lists and the poll thread of an agent (declared in
// nixl_agent.hpp). Every member here runs under, or takes, the owning agent's lock.
#include <algorithm>
#include <chrono>

#include "core/error.hpp"
#include "core/nixl_agent.hpp"

namespace dynamo::memory::nixl {

namespace {

Error canceled_error(const char* why) {
  Error error(ErrorKind::kNixl, "NIXL_ERR_CANCELED", std::string("transfer canceled: ") + why);
  error.details["operation"] = "nixl_capi_get_xfer_status";
  return error;
}

}  // namespace

// --- XferRequest ------------------------------------------------------------------------------

XferRequest::XferRequest(std::shared_ptr<Agent> agent, capi_xfer_req request, std::size_t descs)
    : _agent(std::move(agent)), _request(request), _descs(descs) {}

XferRequest::~XferRequest() {
  try {
    release();
  } catch (...) {
    // NIXL could not cancel a request that nobody references any more; the agent's close()
    // cannot reach it either, so it is left to NIXL's own teardown.
  }
}

bool XferRequest::post(Completion done) {
  std::unique_lock<std::mutex> lock(_agent->_mutex);
  if (_state == State::kReleased || _request == nullptr) {
    throw Error(
        ErrorKind::kDisposed, "ERR_DMEM_NIXL_XFER_RELEASED", "the transfer request was released");
  }
  _agent->ensure_open();
  if (_state == State::kInFlight) {
    throw Error(ErrorKind::kBusy,
                "ERR_DMEM_NIXL_IN_FLIGHT",
                "the transfer request is still in flight; wait for it before posting again");
  }

  int status = api().post_xfer_req(_agent->_handle, _request, nullptr);
  if (status < 0) {
    _state = State::kFailed;
    check(status, "nixl_capi_post_xfer_req");
  }
  if (status == kCapiSuccess) {
    _state = State::kDone;
    return true;
  }

  _state = State::kInFlight;
  _pending = std::move(done);
  _agent->_in_flight.push_back(weak_from_this());
  _agent->start_poller();
  _agent->_wake.notify_one();
  return false;
}

bool XferRequest::release() {
  std::vector<std::function<void()>> after;
  {
    std::lock_guard<std::mutex> lock(_agent->_mutex);
    if (_state == State::kReleased) return false;
    _agent->release_request_locked(*this, after);
  }
  for (auto& call : after) call();
  return true;
}

XferRequest::State XferRequest::state() const {
  std::lock_guard<std::mutex> lock(_agent->_mutex);
  return _state;
}

// --- PreparedList -----------------------------------------------------------------------------

PreparedList::PreparedList(std::shared_ptr<Agent> agent, capi_dlist_handle handle, std::size_t n)
    : _agent(std::move(agent)), _handle(handle), _descs(n) {}

PreparedList::~PreparedList() {
  try {
    release();
  } catch (...) {
  }
}

bool PreparedList::release() {
  std::lock_guard<std::mutex> lock(_agent->_mutex);
  if (_handle == nullptr) return false;
  capi_dlist_handle handle = std::exchange(_handle, nullptr);
  if (_agent->_handle != nullptr) {
    check(api().release_xfer_dlist_handle(_agent->_handle, handle),
          "nixl_capi_release_xfer_dlist_handle");
  }
  return true;
}

// --- Agent: releasing requests and polling them -----------------------------------------------

void Agent::release_request_locked(XferRequest& request,
                                   std::vector<std::function<void()>>& after) {
  if (request._request != nullptr && _handle != nullptr) {
    // releaseXferReq cancels a transfer in flight, or refuses (REPOST_ACTIVE, folded into
    // BACKEND by the C API); on refusal the request stays as it was.
    check(api().release_xfer_req(_handle, request._request), "nixl_capi_release_xfer_req");
    api().destroy_xfer_req(request._request);
  }
  request._request = nullptr;
  bool was_in_flight = request._state == XferRequest::State::kInFlight;
  request._state = XferRequest::State::kReleased;
  if (was_in_flight && request._pending) {
    auto done = std::move(request._pending);
    request._pending = nullptr;
    after.push_back([done = std::move(done)] {
      done(std::make_exception_ptr(canceled_error("the request was released while in flight")));
    });
  }
}

void Agent::start_poller() {
  if (_poller_running) return;
  // A previous poll thread has set _poller_running under the lock and touches nothing after.
  if (_poller.joinable()) _poller.join();
  _poller_running = true;
  _poller = std::thread([self = shared_from_this()]() mutable { poll_loop(std::move(self)); });
}

void Agent::poll_loop(std::shared_ptr<Agent> self) {
  // The thread holds the agent while transfers are in flight and ends when none is left. Back
  // off from 20 us to 1 ms while nothing completes: short transfers finish fast, long ones do
  // not need a core spinning on them.
  auto interval = std::chrono::microseconds(20);
  std::unique_lock<std::mutex> lock(self->_mutex);
  while (!self->_stopping && !self->_in_flight.empty()) {
    std::vector<std::function<void()>> completions;
    std::vector<std::weak_ptr<XferRequest>> still;
    // NB: a request's destructor takes the agent's lock, so strong references taken here are
    // only dropped after unlocking.
    std::vector<std::shared_ptr<XferRequest>> seen;
    for (auto& weak : self->_in_flight) {
      auto request = weak.lock();
      if (request) seen.push_back(request);
      if (!request || request->_state != XferRequest::State::kInFlight) continue;
      int status = api().get_xfer_status(self->_handle, request->_request);
      if (status == kCapiInProgress) {
        still.push_back(weak);
        continue;
      }
      auto done = std::move(request->_pending);
      request->_pending = nullptr;
      std::exception_ptr failure;
      if (status < 0) {
        request->_state = XferRequest::State::kFailed;
        try {
          check(status, "nixl_capi_get_xfer_status");
        } catch (...) {
          failure = std::current_exception();
        }
      } else {
        request->_state = XferRequest::State::kDone;
      }
      // The request is dropped with the completion, outside the lock.
      completions.push_back([done = std::move(done), failure, request] {
        if (done) done(failure);
      });
    }
    self->_in_flight = std::move(still);

    lock.unlock();
    for (auto& call : completions) call();
    bool progressed = !completions.empty();
    completions.clear();
    seen.clear();
    lock.lock();
    if (progressed) {
      interval = std::chrono::microseconds(20);
      continue;
    }
    self->_wake.wait_for(lock, interval, [&self] { return self->_stopping; });
    interval = std::min(interval * 2, std::chrono::microseconds(1000));
  }
  self->_poller_running = false;
  lock.unlock();
  // If this was the last reference, ~Agent runs here, on this thread, and detaches it.
  self.reset();
}

}  // namespace dynamo::memory::nixl
