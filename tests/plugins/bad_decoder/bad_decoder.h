/* The record shared by bad_decoder.bpf.c and bad_decoder.cpp. */
#ifndef LEAF_TEST_BAD_DECODER_H
#define LEAF_TEST_BAD_DECODER_H

#include "leaf_event.h"

enum bad_decoder_event_type { BAD_DECODER_EVENT_CLOSE = 0 };

/* close(fd) called by the target process with fd <= BAD_DECODER_FD_BASE. */
#define BAD_DECODER_FD_BASE (-1000)

struct bad_decoder_event {
	struct leaf_event_header hdr;
	__s32 fd;
	__u32 tgid;
};

#endif
