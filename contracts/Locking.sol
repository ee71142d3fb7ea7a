// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Locking
/// @notice L1 registry of seqset's sequencers and their locked stake. Every state
///         change the L2 chain must mirror emits an event carrying `eventNonce`, a
///         contract-wide counter that starts at 1 and grows by exactly 1 per event,
///         so the chain can apply events strictly in order and detect gaps.
/// @dev Owners, signers and consensus keys are never reused, even after an exit:
///      the chain keys sequencers by them and must never see two meanings for one.
///      The token must be a plain ERC-20 (no fee on transfer); `_pullTokens` checks.
contract Locking is AccessControlDefaultAdminRules, ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Active,
        Unlocking,
        Exited
    }

    struct Sequencer {
        address owner;
        address signer;
        bytes32 consensusKey;
        uint256 amount; // locked wei, excluding what is queued for withdrawal
        Status status;
    }

    struct PendingWithdrawal {
        uint256 amount;
        uint64 releasableAt; // unix seconds
    }

    bytes32 public constant REWARD_DISTRIBUTOR = keccak256("REWARD_DISTRIBUTOR");
    // Bounds the loop in `claim`, so a claim always fits in a block.
    uint256 public constant MAX_PENDING_WITHDRAWALS = 32;
    uint64 public constant MAX_WITHDRAWAL_DELAY = 365 days;

    IERC20 public immutable token;
    uint256 public minLock;
    uint256 public maxLock;
    uint64 public withdrawalDelay;

    uint64 public eventNonce; // the last nonce emitted; 0 before the first event
    uint64 public sequencerCount; // also the highest id: ids run 1..sequencerCount
    uint256 public totalLocked;
    uint256 public totalPending;
    uint256 public rewardPool;

    mapping(address => bool) public whitelisted;
    mapping(uint64 => Sequencer) public sequencers;
    mapping(address => uint64) public sequencerOfOwner;
    mapping(address => uint64) public sequencerOfSigner; // current signers only
    mapping(bytes32 => uint64) public sequencerOfKey;
    mapping(address => bool) public signerUsed; // every signer ever set
    mapping(uint64 => PendingWithdrawal[]) private _pending;
    mapping(uint64 => uint256) private _pendingHead; // index of the oldest unpaid entry

    event Locked(uint64 indexed eventNonce, uint64 indexed sequencerId, address owner, address signer, bytes32 consensusKey, uint256 amount);
    event LockIncreased(uint64 indexed eventNonce, uint64 indexed sequencerId, uint256 amount, uint256 newTotal);
    event SignerChanged(uint64 indexed eventNonce, uint64 indexed sequencerId, address oldSigner, address newSigner);
    event WithdrawalRequested(uint64 indexed eventNonce, uint64 indexed sequencerId, uint256 amount, uint256 remaining);
    event UnlockInitiated(uint64 indexed eventNonce, uint64 indexed sequencerId, uint256 amount);
    event Released(uint64 indexed eventNonce, uint64 indexed sequencerId, address to, uint256 amount);
    event RewardsClaimed(uint64 indexed eventNonce, uint64 indexed sequencerId, address to, uint256 amount);

    // Administrative events: the chain does not mirror these, so they carry no nonce.
    event WhitelistSet(address indexed owner, bool allowed);
    event LockRangeSet(uint256 minLock, uint256 maxLock);
    event WithdrawalDelaySet(uint64 withdrawalDelay);
    event RewardsFunded(address indexed from, uint256 amount, uint256 rewardPool);

    error NotWhitelisted(address owner);
    error OwnerHasSequencer(address owner, uint64 sequencerId);
    error AmountOutOfRange(uint256 amount, uint256 min, uint256 max);
    error ExceedsMaxLock(uint256 newTotal, uint256 max);
    error NotOwner(uint64 sequencerId, address caller);
    error UnknownSequencer(uint64 sequencerId);
    error SignerInUse(address signer);
    error KeyInUse(bytes32 consensusKey);
    error ZeroSigner();
    error ZeroKey();
    error ZeroAmount();
    error ZeroAddress();
    error WithdrawalExceedsLock(uint256 amount, uint256 locked);
    error BelowMinLock(uint256 remaining, uint256 minLock);
    error AlreadyUnlocking(uint64 sequencerId);
    error TooManyPendingWithdrawals(uint64 sequencerId, uint256 max);
    error NothingToClaim(uint64 sequencerId);
    error InsufficientRewardPool(uint256 requested, uint256 available);
    error InvalidLockRange(uint256 min, uint256 max);
    error WithdrawalDelayTooLong(uint64 delay, uint64 max);
    error TransferAmountMismatch(uint256 expected, uint256 received);

    constructor(IERC20 token_, address admin, uint256 minLock_, uint256 maxLock_, uint64 withdrawalDelay_)
        AccessControlDefaultAdminRules(0, admin)
    {
        if (address(token_) == address(0)) revert ZeroAddress();
        token = token_;
        _setLockRange(minLock_, maxLock_);
        _setWithdrawalDelay(withdrawalDelay_);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Allows or forbids `owner` to become a sequencer. Existing sequencers
    ///         are unaffected: removal only stops new locks.
    function setWhitelisted(address owner, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (owner == address(0)) revert ZeroAddress();
        whitelisted[owner] = allowed;
        emit WhitelistSet(owner, allowed);
    }

    /// @notice Sets the allowed lock range. Existing locks above a lowered maximum stay.
    function setLockRange(uint256 min, uint256 max) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setLockRange(min, max);
    }

    /// @notice Sets the delay, in seconds, between a withdrawal request and its release.
    function setWithdrawalDelay(uint64 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setWithdrawalDelay(delay);
    }

    // ---------------------------------------------------------------- owners

    /// @notice Makes the caller a new sequencer with `amount` wei locked.
    /// @return sequencerId the new id: 1 for the first sequencer, then strictly increasing.
    function lock(address signer, bytes32 consensusKey, uint256 amount)
        external
        nonReentrant
        returns (uint64 sequencerId)
    {
        // Verify the caller may join and has not joined before
        if (!whitelisted[msg.sender]) revert NotWhitelisted(msg.sender);
        uint64 existing = sequencerOfOwner[msg.sender];
        if (existing != 0) revert OwnerHasSequencer(msg.sender, existing);
        // Verify the identities are set and fresh
        if (signer == address(0)) revert ZeroSigner();
        if (consensusKey == bytes32(0)) revert ZeroKey();
        if (signerUsed[signer]) revert SignerInUse(signer);
        if (sequencerOfKey[consensusKey] != 0) revert KeyInUse(consensusKey);
        // Verify the amount
        if (amount < minLock || amount > maxLock) revert AmountOutOfRange(amount, minLock, maxLock);

        sequencerId = ++sequencerCount;
        sequencers[sequencerId] = Sequencer(msg.sender, signer, consensusKey, amount, Status.Active);
        sequencerOfOwner[msg.sender] = sequencerId;
        sequencerOfSigner[signer] = sequencerId;
        sequencerOfKey[consensusKey] = sequencerId;
        signerUsed[signer] = true;
        totalLocked += amount;
        emit Locked(_nextNonce(), sequencerId, msg.sender, signer, consensusKey, amount);
        _pullTokens(msg.sender, amount);
    }

    /// @notice Adds `amount` wei to an active sequencer's lock; the total stays <= maxLock.
    function increaseLock(uint64 sequencerId, uint256 amount) external nonReentrant {
        Sequencer storage seq = _getActiveOwned(sequencerId);
        // Verify the amount
        if (amount == 0) revert ZeroAmount();
        uint256 newTotal = seq.amount + amount;
        if (newTotal > maxLock) revert ExceedsMaxLock(newTotal, maxLock);

        seq.amount = newTotal;
        totalLocked += amount;
        emit LockIncreased(_nextNonce(), sequencerId, amount, newTotal);
        _pullTokens(msg.sender, amount);
    }

    /// @notice Replaces an active sequencer's signer with one never used before.
    function changeSigner(uint64 sequencerId, address newSigner) external {
        Sequencer storage seq = _getActiveOwned(sequencerId);
        // Verify the new signer is set and fresh
        if (newSigner == address(0)) revert ZeroSigner();
        if (signerUsed[newSigner]) revert SignerInUse(newSigner);

        address oldSigner = seq.signer;
        seq.signer = newSigner;
        delete sequencerOfSigner[oldSigner];
        sequencerOfSigner[newSigner] = sequencerId;
        signerUsed[newSigner] = true;
        emit SignerChanged(_nextNonce(), sequencerId, oldSigner, newSigner);
    }

    /// @notice Queues a partial withdrawal; at least minLock must stay locked.
    function requestWithdrawal(uint64 sequencerId, uint256 amount) external {
        Sequencer storage seq = _getActiveOwned(sequencerId);
        // Verify the amount leaves at least minLock behind
        if (amount == 0) revert ZeroAmount();
        if (amount > seq.amount) revert WithdrawalExceedsLock(amount, seq.amount);
        uint256 remaining = seq.amount - amount;
        if (remaining < minLock) revert BelowMinLock(remaining, minLock);

        seq.amount = remaining;
        _queueWithdrawal(sequencerId, amount);
        emit WithdrawalRequested(_nextNonce(), sequencerId, amount, remaining);
    }

    /// @notice Starts a full exit: the whole remaining lock is queued for release,
    ///         and the sequencer can no longer increase, withdraw or change signer.
    function initiateUnlock(uint64 sequencerId) external {
        Sequencer storage seq = _getActiveOwned(sequencerId);
        uint256 amount = seq.amount;

        seq.amount = 0;
        seq.status = Status.Unlocking;
        _queueWithdrawal(sequencerId, amount);
        emit UnlockInitiated(_nextNonce(), sequencerId, amount);
    }

    /// @notice Pays the owner every queued amount whose release time has come.
    function claim(uint64 sequencerId) external nonReentrant {
        Sequencer storage seq = _getOwned(sequencerId);
        PendingWithdrawal[] storage queue = _pending[sequencerId];
        uint256 head = _pendingHead[sequencerId];
        uint256 total = 0;
        // The queue is ordered by releasableAt (see _queueWithdrawal), so stop at the first unripe one
        while (head < queue.length && queue[head].releasableAt <= block.timestamp) {
            total += queue[head].amount;
            delete queue[head];
            head++;
        }
        // Verify something was ripe
        if (total == 0) revert NothingToClaim(sequencerId);

        _pendingHead[sequencerId] = head;
        totalPending -= total;
        if (seq.status == Status.Unlocking && head == queue.length) seq.status = Status.Exited;
        emit Released(_nextNonce(), sequencerId, seq.owner, total);
        token.safeTransfer(seq.owner, total);
    }

    // ---------------------------------------------------------------- rewards

    /// @notice Moves `amount` wei from the caller into the reward pool. Anyone may fund.
    function fundRewards(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        rewardPool += amount;
        emit RewardsFunded(msg.sender, amount, rewardPool);
        _pullTokens(msg.sender, amount);
    }

    /// @notice Pays `amount` wei of rewards earned by `sequencerId` to `to`, from the pool.
    function claimRewards(uint64 sequencerId, address to, uint256 amount)
        external
        onlyRole(REWARD_DISTRIBUTOR)
        nonReentrant
    {
        // Verify the sequencer exists, the recipient is set and the pool can pay
        if (sequencers[sequencerId].status == Status.None) revert UnknownSequencer(sequencerId);
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (amount > rewardPool) revert InsufficientRewardPool(amount, rewardPool);

        rewardPool -= amount;
        emit RewardsClaimed(_nextNonce(), sequencerId, to, amount);
        token.safeTransfer(to, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice Every sequencer, ids 1..sequencerCount, as parallel arrays (for the genesis builder).
    function listSequencers()
        external
        view
        returns (
            uint64[] memory ids,
            address[] memory owners,
            address[] memory signers,
            bytes32[] memory keys,
            uint256[] memory amounts,
            Status[] memory statuses
        )
    {
        return listSequencersPage(1, sequencerCount);
    }

    /// @notice Up to `maxCount` sequencers starting at id `firstId`, as parallel arrays.
    function listSequencersPage(uint64 firstId, uint64 maxCount)
        public
        view
        returns (
            uint64[] memory ids,
            address[] memory owners,
            address[] memory signers,
            bytes32[] memory keys,
            uint256[] memory amounts,
            Status[] memory statuses
        )
    {
        uint256 n = _pageSize(firstId, maxCount);
        ids = new uint64[](n);
        owners = new address[](n);
        signers = new address[](n);
        keys = new bytes32[](n);
        amounts = new uint256[](n);
        statuses = new Status[](n);
        for (uint256 i = 0; i < n; i++) {
            uint64 id = firstId + uint64(i);
            Sequencer storage seq = sequencers[id];
            (ids[i], owners[i], signers[i]) = (id, seq.owner, seq.signer);
            (keys[i], amounts[i], statuses[i]) = (seq.consensusKey, seq.amount, seq.status);
        }
    }

    /// @notice The unpaid withdrawals of a sequencer, oldest first.
    function pendingWithdrawals(uint64 sequencerId)
        external
        view
        returns (uint256[] memory amounts, uint64[] memory releasableAt)
    {
        PendingWithdrawal[] storage queue = _pending[sequencerId];
        uint256 head = _pendingHead[sequencerId];
        uint256 n = queue.length - head;
        amounts = new uint256[](n);
        releasableAt = new uint64[](n);
        for (uint256 i = 0; i < n; i++) {
            (amounts[i], releasableAt[i]) = (queue[head + i].amount, queue[head + i].releasableAt);
        }
    }

    /// @notice What `claim` would pay now.
    function claimable(uint64 sequencerId) external view returns (uint256 total) {
        PendingWithdrawal[] storage queue = _pending[sequencerId];
        for (uint256 i = _pendingHead[sequencerId]; i < queue.length; i++) {
            if (queue[i].releasableAt > block.timestamp) break;
            total += queue[i].amount;
        }
    }

    // ---------------------------------------------------------------- internals

    function _nextNonce() private returns (uint64) {
        return ++eventNonce;
    }

    function _getOwned(uint64 sequencerId) private view returns (Sequencer storage seq) {
        seq = sequencers[sequencerId];
        // Verify the sequencer exists and the caller owns it
        if (seq.status == Status.None) revert UnknownSequencer(sequencerId);
        if (seq.owner != msg.sender) revert NotOwner(sequencerId, msg.sender);
    }

    function _getActiveOwned(uint64 sequencerId) private view returns (Sequencer storage seq) {
        seq = _getOwned(sequencerId);
        // Verify no exit has started
        if (seq.status != Status.Active) revert AlreadyUnlocking(sequencerId);
    }

    /// @dev Moves `amount` from the lock to the queue. An entry never ripens before an
    ///      earlier one, even after the delay is shortened, so the queue stays sorted.
    function _queueWithdrawal(uint64 sequencerId, uint256 amount) private {
        PendingWithdrawal[] storage queue = _pending[sequencerId];
        uint256 head = _pendingHead[sequencerId];
        if (queue.length - head >= MAX_PENDING_WITHDRAWALS) {
            revert TooManyPendingWithdrawals(sequencerId, MAX_PENDING_WITHDRAWALS);
        }
        uint64 releasableAt = uint64(block.timestamp) + withdrawalDelay;
        if (queue.length > head && queue[queue.length - 1].releasableAt > releasableAt) {
            releasableAt = queue[queue.length - 1].releasableAt;
        }
        queue.push(PendingWithdrawal(amount, releasableAt));
        totalLocked -= amount;
        totalPending += amount;
    }

    function _pullTokens(address from, uint256 amount) private {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert TransferAmountMismatch(amount, received);
    }

    function _pageSize(uint64 firstId, uint64 maxCount) private view returns (uint256) {
        if (firstId == 0 || firstId > sequencerCount) return 0;
        uint256 available = uint256(sequencerCount) - firstId + 1;
        return maxCount < available ? maxCount : available;
    }

    function _setLockRange(uint256 min, uint256 max) private {
        if (min == 0 || min > max) revert InvalidLockRange(min, max);
        minLock = min;
        maxLock = max;
        emit LockRangeSet(min, max);
    }

    function _setWithdrawalDelay(uint64 delay) private {
        if (delay > MAX_WITHDRAWAL_DELAY) revert WithdrawalDelayTooLong(delay, MAX_WITHDRAWAL_DELAY);
        withdrawalDelay = delay;
        emit WithdrawalDelaySet(delay);
    }
}
