/* Conversion of the storage model's disk addresses to the wire type, shared by
 * guest-get-fsinfo and guest-get-disks. */
#pragma once

#include "blockdev.h"
#include "qa-schema.h"

QaGuestDiskAddress *
qa_disk_address_to_wire(const QaDiskAddress *address);
/* a new owning list of QaGuestDiskAddress from a GPtrArray of QaDiskAddress */
GPtrArray *
qa_disk_address_list_to_wire(GPtrArray *addresses);
